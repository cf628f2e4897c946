{#- Validated, typed events of the configured domains. Exact duplicate events
    (same user_id, item_id, domain, event_ts, label) count once. Events of other domains are
    ignored; their count is logged. -#}
{%- set domains = scalr_domains() -%}
{%- set base = ref('base_events') -%}
{%- set ctx = "events_path=" ~ var('events_path') -%}
{%- if execute -%}
  {%- set configured = "domain in (" ~ scalr_sql_list(domains) ~ ")" -%}
  {{ scalr_check_rows('stg_events', base, [
      ['domain', "domain is null or domain = ''", "have a null or empty domain"],
      ['user_id', configured ~ " and (user_id is null or user_id = '')", "have a null or empty user_id"],
      ['item_id', configured ~ " and (item_id is null or item_id = '')", "have a null or empty item_id"],
      [var('event_time_column'), configured ~ " and event_time_raw is null", "have a missing time"],
      [var('event_time_column'), configured ~ " and event_time_raw is not null and event_ts is null",
          "have a time that does not parse as " ~ var('event_time_unit')],
      ['label', configured ~ " and (label_value is null or label_value not in (0, 1))",
          "have a label outside {0, 1}"],
  ], ctx) }}
  {%- set per_domain = run_query("select domain, count(*) from " ~ base ~ " group by domain") -%}
  {%- set counts = {} -%}
  {%- for r in per_domain.rows -%}{%- do counts.update({r[0]: r[1]}) -%}{%- endfor -%}
  {%- for d in domains -%}
    {%- if (counts.get(d) or 0) == 0 -%}
      {{ scalr_fail('stg_events', "column domain: configured domain '" ~ d ~ "' has 0 rows (domains present: "
          ~ (counts.keys() | reject('none') | sort | join(', ')) ~ "; " ~ ctx ~ ")") }}
    {%- endif -%}
  {%- endfor -%}
  {%- set ignored = [] -%}
  {%- for d, n in counts.items() -%}
    {%- if d not in domains and d is not none and d != '' -%}{%- do ignored.append(d ~ ": " ~ n) -%}{%- endif -%}
  {%- endfor -%}
  {%- if ignored -%}
    {{ log("stg_events: ignored events of unconfigured domains (" ~ (ignored | sort | join(', ')) ~ ")", info=True) }}
  {%- endif -%}
  {%- set shared = run_query("select count(*), coalesce(sum(n), 0) from (select item_id, count(*) as n from "
      ~ base ~ " where " ~ configured ~ " group by item_id having count(distinct domain) > 1)").rows[0] -%}
  {%- if shared[0] > 0 -%}
    {{ scalr_fail('stg_events', "column item_id: " ~ shared[0] ~ " item ids appear in more than one domain ("
        ~ shared[1] ~ " rows); catalogs must be disjoint (" ~ ctx ~ ")") }}
  {%- endif -%}
{%- endif -%}

with

events as (
    select * from {{ base }}
    where domain in ({{ scalr_sql_list(domains) }})
),

deduplicated as (
    select distinct
        user_id,
        item_id,
        domain,
        event_ts,
        cast(label_value as integer) as label
    from events
),

final as (
    select
        user_id,
        item_id,
        domain,
        case when domain = '{{ var("target_domain") }}' then 'target' else 'source' end as domain_role,
        event_ts,
        label
    from deduplicated
)

select * from final

{#- Validated, typed events of the configured domains. Exact duplicate events
    (same user_id, item_id, domain, event_ts, label) count once. Events of other domains are
    ignored; their count is logged. -#}
{%- set domains = scalr_domains() -%}
{%- set base = ref('base_events') -%}
{%- set ctx = "events_path=" ~ var('events_path') -%}
{%- if scalr_checks_data() -%}
  {#- base_events is a view created with the vars of the run that built it: a run that selects
      stg_events but not base_events would read that run's file (and name this run's in errors) -#}
  {%- set read_with = run_query("select read_with from " ~ base ~ " limit 1").rows -%}
  {%- if read_with and read_with[0][0] != scalr_events_read_with() -%}
    {%- set n_rows = run_query("select count(*) from " ~ base).rows[0][0] -%}
    {{ scalr_fail('stg_events', "column read_with: all " ~ n_rows ~ " rows of base_events were read with "
        ~ read_with[0][0] ~ ", but this run has " ~ scalr_events_read_with() ~ ": base_events is stale "
        ~ "(a --select without it); rebuild it with this run's vars, e.g. --select base_events+ or +stg_events") }}
  {%- endif -%}
  {%- set configured = "domain in (" ~ scalr_sql_list(domains) ~ ")" -%}
  {%- set time_col = var('event_time_column') -%}
  {#- Catalog disjointness: rows (of configured domains, non-empty item_id) whose item_id occurs in
      more than one configured domain. One GROUP BY item_id (portable; a window partitioned by
      item_id over every event sorted all rows by text: docs/performance.md). -#}
  {%- set shared_q -%}
    select sum(n_rows), count(*), min(item_id) from (
        select
            item_id,
            count(case when not {{ scalr_is_blank('item_id') }} then 1 end) as n_rows,
            min(domain) as item_min_domain,
            max(domain) as item_max_domain
        from {{ base }}
        where {{ configured }}
        group by item_id
    ) as per_item
    where item_min_domain <> item_max_domain
  {%- endset -%}
  {%- set shared = run_query(shared_q).rows[0] -%}
  {%- set n_shared = shared[0] or 0 -%}
  {%- set failures = scalr_row_failures(base, [
      ['domain', scalr_is_blank('domain'), "have a null or empty domain"],
      ['user_id', configured ~ " and " ~ scalr_is_blank('user_id'), "have a null or empty user_id"],
      ['item_id', configured ~ " and " ~ scalr_is_blank('item_id'), "have a null or empty item_id"],
      [time_col, configured ~ " and event_time_missing", "have a missing time"],
      [time_col, configured ~ " and not event_time_missing and event_ts is null",
          "have a time that does not parse as " ~ var('event_time_unit') ~ " (var event_time_unit)"],
      [time_col, configured ~ " and (event_ts < " ~ scalr_ts_literal('1900-01-01') ~ " or event_ts >= "
          ~ scalr_ts_literal('2200-01-01') ~ ")",
          "have a time outside [1900, 2200) (milliseconds given with event_time_unit = " ~ var('event_time_unit') ~ "?)"],
      ['label', configured ~ " and (label_value is null or label_value not in (0, 1))",
          "have a missing label or one outside {0, 1}"],
  ]) -%}
  {%- set per_domain = run_query("select domain, count(*) from " ~ base ~ " group by domain") -%}
  {%- set counts = {} -%}
  {%- set ns = namespace(total=0, ignored=0) -%}
  {%- for r in per_domain.rows -%}
    {%- do counts.update({r[0]: r[1]}) -%}
    {%- set ns.total = ns.total + r[1] -%}
  {%- endfor -%}
  {%- if n_shared > 0 -%}
    {%- do failures.append("column item_id: " ~ n_shared ~ " of " ~ ns.total
        ~ " rows have an item_id that also occurs in another domain (catalogs must be disjoint; " ~ shared[1]
        ~ " such item id" ~ ("s" if shared[1] != 1 else "") ~ ", e.g. '" ~ shared[2] ~ "')") -%}
  {%- endif -%}
  {%- for d in domains -%}
    {%- if (counts.get(d) or 0) == 0 -%}
      {%- do failures.append("column domain: configured domain '" ~ d ~ "' has 0 of " ~ ns.total
          ~ " rows (domains present: " ~ (counts.keys() | reject('none') | sort | join(', '))
          ~ "; check vars source_domains / target_domain)") -%}
    {%- endif -%}
  {%- endfor -%}
  {%- set ignored = [] -%}
  {%- for d, n in counts.items() -%}
    {%- if d not in domains and d is not none and d | trim != '' -%}
      {%- do ignored.append(d ~ ": " ~ n) -%}
      {%- set ns.ignored = ns.ignored + n -%}
    {%- endif -%}
  {%- endfor -%}
  {%- if ignored -%}
    {{ log("stg_events: ignored " ~ ns.ignored ~ " of " ~ ns.total ~ " rows: events of unconfigured domains ("
        ~ (ignored | sort | join(', ')) ~ ")", info=True) }}
  {%- endif -%}
  {{ scalr_fail_if('stg_events', failures, ctx) }}
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
        case when domain = {{ scalr_sql_list([var('target_domain')]) }} then 'target' else 'source' end as domain_role,
        event_ts,
        label
    from deduplicated
)

select * from final

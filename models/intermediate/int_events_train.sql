{#- Events of the train window [train_start, train_end). Stops the build if the window holds no
    source or no target event. A view (a filter of stg_events): its readers scan stg_events with the
    window predicate instead of a full copy being written (docs/performance.md). -#}
{{ config(materialized='view') }}
{%- set start = scalr_var_time('train_start', 'int_events_train', nullable=true) -%}
{%- set end_ = scalr_var_time('train_end', 'int_events_train') -%}
{%- set window_sql -%}
    event_ts < {{ scalr_ts_literal(end_) }}
    {%- if start %} and event_ts >= {{ scalr_ts_literal(start) }}{% endif %}
{%- endset -%}
{%- if scalr_checks_data() -%}
  {%- set q = "select domain, sum(case when " ~ window_sql ~ " then 1 else 0 end), count(*) from "
      ~ ref('stg_events') ~ " group by domain" -%}
  {%- set counts = {} -%}
  {%- for r in run_query(q).rows -%}{%- do counts.update({r[0]: [r[1] or 0, r[2]]}) -%}{%- endfor -%}
  {%- set empty = [] -%}
  {%- for d in scalr_domains() -%}
    {%- set c = counts.get(d, [0, 0]) -%}
    {%- if c[0] == 0 -%}{%- do empty.append("domain '" ~ d ~ "' has 0 of " ~ c[1] ~ " rows") -%}{%- endif -%}
  {%- endfor -%}
  {%- if empty -%}
    {{ scalr_fail('int_events_train', "column event_ts: " ~ (empty | join(', ')) ~ " in the train window ["
        ~ (start or '-inf') ~ ", " ~ end_ ~ ") (vars train_start / train_end)") }}
  {%- endif -%}
{%- endif -%}

with

events as (
    select * from {{ ref('stg_events') }}
),

final as (
    select * from events
    where {{ window_sql }}
)

select * from final

{#- Events of the train window [train_start, train_end). Stops the build if the window holds no
    source or no target event. A view (a filter of stg_events): its readers scan stg_events with the
    window predicate instead of a full copy being written (docs/performance.md).
    With var target_keep_users < 1 the target-domain events of users not kept (int_target_users)
    are dropped here, upstream of every reader of target train events (P_hat, synthetic events,
    training rows, audits); their source events stay, and their eval-window events are read from
    stg_events by int_target_eval_events. At 1.0 no filter is written (the same SQL as without it). -#}
{{ config(materialized='view') }}
{%- set start = scalr_var_time('train_start', 'int_events_train', nullable=true) -%}
{%- set end_ = scalr_var_time('train_end', 'int_events_train') -%}
{%- set keep = scalr_var_number('target_keep_users', 'int_events_train', min_value=0, max_value=1) -%}
{%- set filter_keep = keep is not none and keep < 1 -%}
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
        ~ (start or '-inf') ~ ", " ~ end_ ~ ") (vars train_start / train_end; rows of stg_events: the events file's rows of that domain, exact duplicates counted once)") }}
  {%- endif -%}
  {%- if filter_keep -%}
    {%- set kq = "select count(*) from " ~ ref('stg_events') ~ " where domain_role = 'target' and "
        ~ window_sql ~ " and user_id in (select user_id from " ~ ref('int_target_users') ~ " where kept)" -%}
    {%- if (run_query(kq).rows[0][0] or 0) == 0 -%}
      {{ scalr_fail('int_events_train', "var target_keep_users = " ~ keep ~ " (keep_seed "
          ~ var('keep_seed') ~ ") keeps no user with a target-domain event in the train window") }}
    {%- endif -%}
  {%- endif -%}
{%- endif %}
-- depends_on: {{ ref('int_target_users') }}

with

events as (
    select * from {{ ref('stg_events') }}
),

final as (
    select * from events
    where {{ window_sql }}
    {%- if filter_keep %}
        and (
            domain_role <> 'target'
            or user_id in (select kept_users.user_id from {{ ref('int_target_users') }} as kept_users where kept_users.kept)
        )
    {%- endif %}
)

select * from final

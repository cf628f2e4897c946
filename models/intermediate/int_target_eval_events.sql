{#- Real target-domain events of the eval window [train_end, eval_end) (eval_end null: everything
    after train_end). Stops the build when the window holds no positive target event (an
    empty window leaves nothing to evaluate; the message counts the target rows in and out of it). -#}
{%- set start = scalr_var_time('train_end', 'int_target_eval_events') -%}
{%- set end_ = scalr_var_time('eval_end', 'int_target_eval_events', nullable=true) -%}
{%- set window_sql -%}
    event_ts >= {{ scalr_ts_literal(start) }}
    {%- if end_ %} and event_ts < {{ scalr_ts_literal(end_) }}{% endif %}
{%- endset -%}
{%- if scalr_checks_data() -%}
  {%- set q = "select count(*), sum(case when " ~ window_sql ~ " then 1 else 0 end), sum(case when "
      ~ window_sql ~ " and label = 1 then 1 else 0 end) from " ~ ref('stg_events') ~ " where domain_role = 'target'" -%}
  {%- set r = run_query(q).rows[0] -%}
  {%- if (r[2] or 0) == 0 -%}
    {{ scalr_fail('int_target_eval_events', "column event_ts: target domain '" ~ var('target_domain') ~ "' has "
        ~ (r[1] or 0) ~ " of " ~ r[0] ~ " rows in the eval window [" ~ start ~ ", " ~ (end_ or '+inf')
        ~ ") and 0 of them are positives (label 1): nothing to evaluate (vars train_end / eval_end)") }}
  {%- endif -%}
{%- endif -%}

with

events as (
    select * from {{ ref('stg_events') }}
    where
        domain_role = 'target'
        and {{ window_sql }}
),

final as (
    select
        user_id,
        item_id,
        event_ts,
        label
    from events
)

select * from final
order by user_id, item_id, event_ts, label

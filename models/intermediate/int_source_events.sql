{#- Source events that drive synthetic generation: every source-domain event of the train window
    (all source domains), optionally only the last var source_window_days days before train_end.
    n_user_events (the user's count here) feeds user_weight_alpha. Not sorted here: the
    synthetic_events wrapper reads it in its documented order. -#}
{%- set window_days = scalr_var_number('source_window_days', 'int_source_events', integer=true, min_value=1, nullable=true) -%}

with

events as (
    select * from {{ ref('int_events_train') }}
    where domain_role = 'source'
    {%- if window_days %}
      and event_ts >= {{ scalr_add_days(scalr_ts_literal(scalr_var_time('train_end', 'int_source_events')), -1 * window_days) }}
    {%- endif %}
),

final as (
    select
        user_id,
        domain as source_domain,
        item_id as source_item,
        event_ts,
        label,
        count(*) over (partition by user_id) as n_user_events
    from events
)

select * from final

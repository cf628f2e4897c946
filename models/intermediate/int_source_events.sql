{#- Source events that drive synthetic generation: every source-domain event of the train window
    (all source domains), optionally only the last var source_window_days days before train_end and
    only each user's var source_events_per_user most recent events (ties by domain, item_id; the
    per-user volume knob: a user's synthetic draws are at most N x synthetic_k before alignment).
    n_user_events (the user's count here) feeds user_weight_alpha. Not sorted here: the
    synthetic_events wrapper reads it in its documented order. -#}
{%- set window_days = scalr_var_number('source_window_days', 'int_source_events', integer=true, min_value=1, nullable=true) -%}
{%- set per_user = scalr_var_number('source_events_per_user', 'int_source_events', integer=true, min_value=1, nullable=true) -%}

with

events as (
    select * from {{ ref('int_events_train') }}
    where domain_role = 'source'
    {%- if window_days %}
      and event_ts >= {{ scalr_add_days(scalr_ts_literal(scalr_var_time('train_end', 'int_source_events')), -1 * window_days) }}
    {%- endif %}
),

{% if per_user -%}
capped as (
    select * from (
        select
            *,
            row_number() over (
                partition by user_id order by event_ts desc, domain, item_id, label desc
            ) as user_event_rank
        from events
    ) as ranked
    where user_event_rank <= {{ per_user }}
),
{%- else -%}
    capped as (
        select * from events
    ),
{%- endif %}

final as (
    select
        user_id,
        domain as source_domain,
        item_id as source_item,
        event_ts,
        label,
        count(*) over (partition by user_id) as n_user_events
    from capped
)

select * from final

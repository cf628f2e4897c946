{#- Real target-domain events of the train window (user_id, item_id, event_ts, label): the real
    data the synthetic events are aligned to. -#}

with

events as (
    select * from {{ ref('int_events_train') }}
    where domain_role = 'target'
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

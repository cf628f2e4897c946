{#- Real target-domain events of the train window (user_id, item_id, event_ts, label): the real
    data the synthetic events are aligned to, with is_validation marking the early-stopping slice
    (event_ts >= int_validation_cut.validation_start; never when validation_fraction is 0). -#}

with

events as (
    select * from {{ ref('int_events_train') }}
    where domain_role = 'target'
),

cut as (
    select * from {{ ref('int_validation_cut') }}
),

final as (
    select
        events.user_id,
        events.item_id,
        events.event_ts,
        events.label,
        coalesce(events.event_ts >= cut.validation_start, false) as is_validation
    from events
    cross join cut
)

select * from final
order by user_id, item_id, event_ts, label

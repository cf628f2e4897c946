{#- The events of the P_hat fit that generates the ranker's training rows: int_events_train without
    the early-stopping slice's target-domain events (event_ts >= int_validation_cut.validation_start,
    the events int_target_train_events flags is_validation). Source events stay. No slice
    (validation_fraction 0, or the coarse-time rule): every event of int_events_train. A view. -#}
{{ config(materialized='view') }}

with

events as (
    select * from {{ ref('int_events_train') }}
),

cut as (
    select * from {{ ref('int_validation_cut') }}
),

final as (
    select events.*
    from events
    cross join cut
    where
        events.domain_role <> 'target'
        or cut.validation_start is null
        or events.event_ts < cut.validation_start
)

select * from final

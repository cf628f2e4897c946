{#- The early-stopping window: one row with validation_start, the (1 - validation_fraction) time
    quantile (linear interpolation, as numpy's default) of the real target train events. Events at
    or after it form the validation slice: int_target_train_events flags them (is_validation), the
    ranker early-stops on them and never trains on them. The whole-window P_hat (int_translation:
    product, evaluation) counts them; the training fit (int_training_events ->
    int_training_translation -> training_synthetic_events) leaves them out (README "The
    early-stopping slice and P_hat").
    Coarse times (day / month / year granular): when the events tied at or after the quantile are
    more than 2 x validation_fraction of all, the slice starts at the next time after the first of
    them instead (the
    latest whole time step can be most of the window), and when there is none, there is no slice
    (validation_start null: no early stopping) rather than a slice that swallows the training data.
    validation_fraction 0: validation_start is null, no slice. -#}
{%- set fraction = scalr_var_number('validation_fraction', 'int_validation_cut', min_value=0, max_value=0.5) -%}

with

target_events as (
    select * from {{ ref('int_events_train') }}
    where domain_role = 'target'
),

quantile as (
    select
        {{ scalr_time_quantile("event_ts", 1 - fraction) }} as q,
        count(*) as n_events
    from target_events
),

at_or_after as (
    select
        count(*) as n_at_or_after,
        min(target_events.event_ts) as first_ts
    from target_events
    cross join quantile
    where target_events.event_ts >= quantile.q
),

next_step as (
    select min(target_events.event_ts) as next_ts
    from target_events
    cross join at_or_after
    where target_events.event_ts > at_or_after.first_ts
),

final as (
    select
        case
            when {{ fraction }} = 0 then cast(null as timestamp)
            when at_or_after.n_at_or_after <= {{ 2 * fraction }} * quantile.n_events then quantile.q
            else next_step.next_ts
        end as validation_start
    from quantile
    cross join at_or_after
    cross join next_step
)

select * from final

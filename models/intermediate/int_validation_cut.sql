{#- The early-stopping window: one row with validation_start, the (1 - validation_fraction) time
    quantile (linear interpolation, as numpy's default) of the real target train events. Events at
    or after it form the validation slice: int_target_train_events flags them (is_validation), the
    ranker early-stops on them and never trains on them, and int_user_items leaves them out, so the
    P_hat of int_translation (and every synthetic event drawn from it) never counted them.
    validation_fraction 0: validation_start is null, no slice. -#}
{%- set fraction = scalr_var_number('validation_fraction', 'int_validation_cut', min_value=0, max_value=0.5) -%}

with

target_events as (
    select * from {{ ref('int_events_train') }}
    where domain_role = 'target'
),

final as (
    select
        {%- if fraction > 0 %}
            quantile_cont(event_ts, {{ 1 - fraction }}) as validation_start
        {%- else %}
            cast(null as timestamp) as validation_start
        {%- endif %}
    from target_events
)

select * from final

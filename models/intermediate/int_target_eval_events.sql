{#- Real target-domain events of the eval window [train_end, eval_end) (eval_end null: everything
    after train_end). May be empty; models that need it check it themselves. -#}

with

events as (
    select * from {{ ref('stg_events') }}
    where
        domain_role = 'target'
        and event_ts >= {{ scalr_ts_literal(var('train_end')) }}
    {%- if var('eval_end') %}
      and event_ts < {{ scalr_ts_literal(var('eval_end')) }}
      {%- endif %}
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

{#- Distinct (user, domain, item) positives of the train window: the indicator semantics of the
    co-occurrence counts. With var max_items_per_user = N, each user keeps their N most recent
    distinct items per domain (ties by item_id), bounding the sum_u |S_u| * |T_u| blow-up. -#}
{%- set cap = var('max_items_per_user') -%}

with

positives as (
    select * from {{ ref('int_events_train') }}
    where label = 1
),

user_items as (
    select
        user_id,
        domain,
        domain_role,
        item_id,
        max(event_ts) as last_event_ts,
        count(*) as n_events
    from positives
    group by user_id, domain, domain_role, item_id
),

{% if cap -%}
capped as (
    select * from (
        select
            *,
            row_number() over (
                partition by user_id, domain order by last_event_ts desc, item_id
            ) as recency_rank
        from user_items
    ) as ranked
    where recency_rank <= {{ cap }}
),
{%- else -%}
    capped as (
        select
            *,
            cast(null as bigint) as recency_rank
        from user_items
    ),
{%- endif %}

final as (
    select * from capped
)

select * from final

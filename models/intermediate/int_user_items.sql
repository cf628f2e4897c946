{#- Distinct (user, domain, item) positives of the train window: the indicator semantics of the
    co-occurrence counts. With var max_items_per_user = N, each user keeps their N most recent
    distinct items per domain (ties by item_id), bounding the sum_u |S_u| * |T_u| blow-up.

    Performance (docs/performance.md): every later co-occurrence step joins, groups and ranks on
    integers, so the dense surrogate keys are assigned here, once: user_key numbers the users in
    user_id order and item_key the (domain, item_id) pairs in (domain, item_id) order. Within one
    domain item_key therefore sorts like item_id, so "ties by item_id" can be broken on item_key.
    Keys depend only on the set of ids, not on row order or threads. -#}
{%- set cap = scalr_var_number('max_items_per_user', 'int_user_items', integer=true, min_value=1, nullable=true) -%}

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

user_keys as (
    select
        user_id,
        cast(row_number() over (order by user_id) as integer) as user_key
    from (select distinct user_id from user_items) as u
),

item_keys as (
    select
        domain,
        item_id,
        cast(row_number() over (order by domain, item_id) as integer) as item_key
    from (
        select distinct
            domain,
            item_id
        from user_items
    ) as i
),

keyed as (
    select
        uk.user_key,
        u.user_id,
        u.domain,
        u.domain_role,
        ik.item_key,
        u.item_id,
        u.last_event_ts,
        u.n_events
    from user_items as u
    inner join user_keys as uk on u.user_id = uk.user_id
    inner join item_keys as ik on u.domain = ik.domain and u.item_id = ik.item_id
),

{% if cap -%}
capped as (
    select * from (
        select
            *,
            row_number() over (
                partition by user_key, domain order by last_event_ts desc, item_key
            ) as recency_rank
        from keyed
    ) as ranked
    where recency_rank <= {{ cap }}
),
{%- else -%}
    capped as (
        select
            *,
            cast(null as bigint) as recency_rank
        from keyed
    ),
{%- endif %}

final as (
    select * from capped
)

select * from final

{#- One row per target item of the train catalog (items with a real target train positive) with its
    value: items.value where var items_path provides it, else its popularity (real target train
    positive events). value_source says which. -#}

with

positives as (
    select
        item_id,
        count(*) as n_train_positives,
        count(distinct user_id) as n_train_users
    from {{ ref('int_target_train_events') }}
    where label = 1
    group by item_id
),

item_values as (
    select
        item_id,
        value
    from {{ ref('stg_items') }}
    where domain = {{ scalr_sql_list([var('target_domain')]) }}
),

final as (
    select
        p.item_id,
        p.n_train_positives,
        p.n_train_users,
        coalesce(v.value, cast(p.n_train_positives as double)) as value,
        case when v.value is null then 'popularity' else 'items.value' end as value_source
    from positives as p
    left join item_values as v on p.item_id = v.item_id
)

select * from final
order by item_id

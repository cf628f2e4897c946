{#- The item dimension of the co-occurrence models: one row per item_key of int_user_items with its
    text ids and the number of users with a positive on it. translation joins the text ids back
    onto its integer-keyed pairs from here, once, at the end. -#}

with

user_items as (
    select * from {{ ref('int_user_items') }}
),

items as (
    select
        item_key,
        domain,
        domain_role,
        item_id,
        count(*) as n_users
    from user_items
    group by item_key, domain, domain_role, item_id
),

final as (
    select * from items
)

select * from final

{#- Co-occurrence with distinct-user (indicator) semantics: n_users_ji = number of overlap users
    with source item j and target item i in the train window; n_users_j = number of overlap users
    with j (Eq. 4's denominator, before any pair filter). -#}

with

user_items as (
    select * from {{ ref('int_user_items') }}
),

overlap as (
    select user_id from {{ ref('int_overlap_users') }}
),

source_items as (
    select u.user_id, u.domain as source_domain, u.item_id as source_item
    from user_items as u
    inner join overlap as o on u.user_id = o.user_id
    where u.domain_role = 'source'
),

target_items as (
    select u.user_id, u.item_id as target_item
    from user_items as u
    inner join overlap as o on u.user_id = o.user_id
    where u.domain_role = 'target'
),

pair_counts as (
    select
        s.source_domain,
        s.source_item,
        t.target_item,
        count(*) as n_users_ji
    from source_items as s
    inner join target_items as t on s.user_id = t.user_id
    group by s.source_domain, s.source_item, t.target_item
),

source_counts as (
    select source_domain, source_item, count(*) as n_users_j
    from source_items
    group by source_domain, source_item
),

final as (
    select
        p.source_domain,
        p.source_item,
        p.target_item,
        p.n_users_ji,
        s.n_users_j
    from pair_counts as p
    inner join source_counts as s
        on p.source_domain = s.source_domain and p.source_item = s.source_item
)

select * from final

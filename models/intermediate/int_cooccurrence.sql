{#- Co-occurrence with distinct-user (indicator) semantics: n_users_ji = number of overlap users
    with source item j and target item i in the train window; n_users_j = number of overlap users
    with j (Eq. 4's denominator, before any pair filter).

    Performance (docs/performance.md): the work is sum_u |S_u| * |T_u| (u, j, i) triples, so the
    self-join and its GROUP BY run on dense integer surrogate keys (user_key, source_key,
    target_key: 4-byte ints, assigned here) instead of the text ids; text ids are joined back onto
    the (much smaller) aggregated pairs at the end. Keys are internal to this query: the result
    does not depend on how they are assigned. -#}

with

overlap as (
    select
        user_id,
        row_number() over () as user_key
    from {{ ref('int_overlap_users') }}
),

user_items as (
    select
        o.user_key,
        u.domain,
        u.domain_role,
        u.item_id
    from {{ ref('int_user_items') }} as u
    inner join overlap as o on u.user_id = o.user_id
),

source_keys as (
    select
        source_domain,
        source_item,
        row_number() over () as source_key
    from (
        select distinct
            domain as source_domain,
            item_id as source_item
        from user_items
        where domain_role = 'source'
    ) as s
),

target_keys as (
    select
        target_item,
        row_number() over () as target_key
    from (
        select distinct item_id as target_item
        from user_items
        where domain_role = 'target'
    ) as t
),

source_pairs as (
    select
        cast(u.user_key as integer) as user_key,
        cast(k.source_key as integer) as source_key
    from user_items as u
    inner join source_keys as k on u.domain = k.source_domain and u.item_id = k.source_item
    where u.domain_role = 'source'
),

target_pairs as (
    select
        cast(u.user_key as integer) as user_key,
        cast(k.target_key as integer) as target_key
    from user_items as u
    inner join target_keys as k on u.item_id = k.target_item
    where u.domain_role = 'target'
),

pair_counts as (
    select
        s.source_key,
        t.target_key,
        count(*) as n_users_ji
    from source_pairs as s
    inner join target_pairs as t on s.user_key = t.user_key
    group by s.source_key, t.target_key
),

source_counts as (
    select
        source_key,
        count(*) as n_users_j
    from source_pairs
    group by source_key
),

final as (
    select
        sk.source_domain,
        sk.source_item,
        tk.target_item,
        p.n_users_ji,
        c.n_users_j
    from pair_counts as p
    inner join source_counts as c on p.source_key = c.source_key
    inner join source_keys as sk on p.source_key = sk.source_key
    inner join target_keys as tk on p.target_key = tk.target_key
)

select * from final

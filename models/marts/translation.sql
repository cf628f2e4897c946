{#- The translation P_hat(i|j) (SCALR Eq. 4) with text ids: one row per (source_domain,
    source_item, target_item). The numbers are computed in int_translation over integer item keys;
    this view joins the text ids of int_items onto them at read time (docs/performance.md: writing
    the text of every pair cost as much as computing it). -#}
{{ config(materialized='view') }}

with

translation as (
    select * from {{ ref('int_translation') }}
),

items as (
    select * from {{ ref('int_items') }}
),

final as (
    select
        s.domain as source_domain,
        s.item_id as source_item,
        t.item_id as target_item,
        -- the contract's types (translation.yml), whatever int_translation's options produce
        cast(n.n_users_ji as integer) as n_users_ji,
        cast(n.n_users_j as integer) as n_users_j,
        cast(n.p_hat as double) as p_hat,
        cast(n.p_norm as double) as p_norm,
        cast(n.target_rank as bigint) as target_rank,
        cast(n.n_targets as bigint) as n_targets
    from translation as n
    inner join items as s on n.source_key = s.item_key
    inner join items as t on n.target_key = t.item_key
)

select * from final

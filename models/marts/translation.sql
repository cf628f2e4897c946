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
        n.n_users_ji,
        n.n_users_j,
        n.p_hat,
        n.p_norm,
        n.target_rank,
        n.n_targets
    from translation as n
    inner join items as s on n.source_key = s.item_key
    inner join items as t on n.target_key = t.item_key
)

select * from final

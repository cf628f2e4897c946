{#- Diagnostics of the generator in use (var generator), one row: coverage of the target catalog,
    the share of draws the frequency P_hat cannot make (pair or item absent from the translation),
    the share landing on the user's own real target train positives, and for generator = model
    the held-out AUC / calibration of g_phi (int_relevance, mean and range over the folds). -#}

with

draws as (
    select
        user_id,
        target_item,
        source_domain,
        source_item,
        p_hat
    from {{ ref('synthetic_events') }}
),

catalog as (
    select item_id
    from {{ ref('int_items') }}
    where domain_role = 'target'
),

phat_targets as (
    select distinct target_item
    from {{ ref('translation') }}
),

own_targets as (
    select distinct
        user_id,
        item_id as target_item
    from {{ ref('int_user_items') }}
    where domain_role = 'target'
),

flagged as (
    select
        d.target_item,
        d.p_hat = 0 as pair_unreachable,
        pt.target_item is null as item_unreachable,
        o.user_id is not null as own_target
    from draws as d
    left join phat_targets as pt on d.target_item = pt.target_item
    left join own_targets as o on d.user_id = o.user_id and d.target_item = o.target_item
),

draw_stats as (
    select
        count(*) as n_draws,
        count(distinct target_item) as n_items_drawn,
        avg(case when pair_unreachable then 1.0 else 0.0 end) as share_pair_not_in_p_hat,
        avg(case when item_unreachable then 1.0 else 0.0 end) as share_item_not_in_p_hat,
        avg(case when own_target then 1.0 else 0.0 end) as share_own_target
    from flagged
),

catalog_stats as (
    select
        count(*) as n_catalog,
        sum(case when pt.target_item is null then 1 else 0 end) as n_catalog_not_in_p_hat
    from catalog as c
    left join phat_targets as pt on c.item_id = pt.target_item
),

relevance as (
    select
        count(*) as n_folds,
        avg(heldout_auc) as heldout_auc,
        min(heldout_auc) as heldout_auc_min,
        max(heldout_auc) as heldout_auc_max,
        avg(heldout_ece) as heldout_ece,
        avg(heldout_brier) as heldout_brier
    from {{ ref('int_relevance') }}
),

final as (
    select
        cast('{{ var("generator") }}' as varchar) as generator,
        cast(ds.n_draws as bigint) as n_draws,
        cast(ds.n_items_drawn as bigint) as n_items_drawn,
        cast(cs.n_catalog as bigint) as n_catalog,
        cast(ds.n_items_drawn / nullif(cs.n_catalog, 0) as double) as catalog_coverage,
        cast(cs.n_catalog_not_in_p_hat as bigint) as n_catalog_not_in_p_hat,
        cast(ds.share_pair_not_in_p_hat as double) as share_pair_not_in_p_hat,
        cast(ds.share_item_not_in_p_hat as double) as share_item_not_in_p_hat,
        cast(ds.share_own_target as double) as share_own_target,
        cast(r.n_folds as bigint) as n_folds,
        cast(r.heldout_auc as double) as heldout_auc,
        cast(r.heldout_auc_min as double) as heldout_auc_min,
        cast(r.heldout_auc_max as double) as heldout_auc_max,
        cast(r.heldout_ece as double) as heldout_ece,
        cast(r.heldout_brier as double) as heldout_brier
    from draw_stats as ds
    cross join catalog_stats as cs
    cross join relevance as r
)

select * from final

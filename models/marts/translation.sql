{#- The translation P_hat(i|j) (SCALR Eq. 4), one row per (source_domain, source_item, target_item).
    p_hat  = n_users_ji / n_users_j exactly (denominator: overlap users who have j, unaffected by
             min_support or the top-N filter).
    p_norm = the sampling distribution over the kept target items of j (sums to 1 per source item):
             proportional to n_users_ji, or with var translation_shrinkage = beta > 0 to
             (n_users_ji + beta * pop_share_i) / (n_users_j + beta), shrinking rare pairs toward
             target popularity. -#}
{%- set min_support = var('min_support') or 1 -%}
{%- set top_n = var('max_targets_per_source') -%}
{%- set beta = var('translation_shrinkage') or 0 -%}
{%- set epsilon = var('count_noise_epsilon') -%}

with

raw_cooccurrence as (
    select * from {{ ref('int_cooccurrence') }}
),

{% if epsilon -%}
{#- Laplace(1/epsilon) noise on each pair count before P_hat, seeded by noise_seed; pairs whose
    noisy count rounds to <= 0 are dropped. -#}
noised as (
    select
        source_domain,
        source_item,
        target_item,
        cast(round(n_users_ji + {{ scalr_laplace("source_domain || '|' || source_item || '|' || target_item",
            var('noise_seed'), 1.0 / epsilon) }}) as bigint) as n_users_ji,
        n_users_j
    from raw_cooccurrence
),

cooccurrence as (
    select * from noised where n_users_ji > 0
),
{%- else -%}
    cooccurrence as (
        select * from raw_cooccurrence
    ),
{%- endif %}

target_popularity as (
    select
        item_id as target_item,
        count(*) * 1.0 / sum(count(*)) over () as pop_share
    from {{ ref('int_user_items') }}
    where domain_role = 'target'
    group by item_id
),

supported as (
    select * from cooccurrence
    where n_users_ji >= {{ min_support }}
),

{% if top_n -%}
ranked as (
    select
        *,
        row_number() over (
            partition by source_domain, source_item
            order by n_users_ji desc, target_item
        ) as support_rank
    from supported
),

kept as (
    select * from ranked
    where support_rank <= {{ top_n }}
),
{%- else -%}
    {#- No top-N filter: skip the support_rank window (one sort of every pair less). -#}
    kept as (
        select * from supported
    ),
{%- endif %}

scored as (
    select
        k.source_domain,
        k.source_item,
        k.target_item,
        k.n_users_ji,
        k.n_users_j,
        k.n_users_ji * 1.0 / k.n_users_j as p_hat,
        (k.n_users_ji + {{ beta }} * coalesce(p.pop_share, 0)) / (k.n_users_j + {{ beta }}) as p_score
    from kept as k
    left join target_popularity as p on k.target_item = p.target_item
),

normalised as (
    select
        *,
        p_score / sum(p_score) over (partition by source_domain, source_item) as p_norm,
        row_number() over (
            partition by source_domain, source_item
            order by p_score desc, target_item asc
        ) as target_rank,
        count(*) over (partition by source_domain, source_item) as n_targets
    from scored
),

final as (
    select
        source_domain,
        source_item,
        target_item,
        n_users_ji,
        n_users_j,
        p_hat,
        p_norm,
        target_rank,
        n_targets
    from normalised
)

{# No ORDER BY: sorting every pair by text keys cost as much as the rest of the model
    (docs/performance.md); consumers order explicitly (the sampler sorts by group and rank). #}

select * from final

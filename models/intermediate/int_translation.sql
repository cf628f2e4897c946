{#- The translation P_hat(i|j) (SCALR Eq. 4) over integer item keys: one row per (source_key,
    target_key) of int_items (the mart `translation` is this table with the text ids joined on).
    p_hat  = n_users_ji / n_users_j exactly (denominator: overlap users who have j, unaffected by
             min_support or the top-N filter).
    p_norm = the sampling distribution over the kept target items of j (sums to 1 per source item):
             proportional to n_users_ji, or with var translation_shrinkage = beta > 0 to
             (n_users_ji + beta * pop_share_i) / (n_users_j + beta), shrinking rare pairs toward
             target popularity.

    Performance (docs/performance.md): filters and windows run on the integer item keys of
    int_cooccurrence (source_key partitions, target_key breaks ties: within the target domain
    item_key sorts like target_item), and the table holds numbers only: writing text ids for every
    pair (DuckDB string compression) cost as much as the windows, so the `translation` view joins
    them from int_items at read time and the sampler reads this table directly. p_hat is
    recomputed from the (possibly noised) counts, not read from int_cooccurrence. int_items is a
    dependency (popularity, noise seeds) even when neither is on. -#}
{%- set min_support = scalr_var_number('min_support', 'int_translation', integer=true, min_value=0, nullable=true) or 1 -%}
{%- set top_n = scalr_var_number('max_targets_per_source', 'int_translation', integer=true, min_value=1, nullable=true) -%}
{%- set beta = scalr_var_number('translation_shrinkage', 'int_translation', min_value=0, nullable=true) or 0 -%}
{%- set epsilon = scalr_var_number('count_noise_epsilon', 'int_translation', min_value=0, nullable=true) -%}
-- depends_on: {{ ref('int_items') }}

with

raw_cooccurrence as (
    {#- the k-support floor (var min_support) holds on the true count, before any noise -#}
    select
        source_key,
        target_key,
        n_users_ji,
        n_users_j
    from {{ ref('int_cooccurrence') }}
    where n_users_ji >= {{ min_support }}
),

{% if epsilon or beta -%}
items as (
    select * from {{ ref('int_items') }}
),
{%- endif %}

{% if epsilon -%}
{#- Laplace(1/epsilon) noise on each pair count before P_hat, seeded by noise_seed and the pair's
    text ids; pairs whose noisy count rounds to <= 0 are dropped, and a noisy count is capped at
    n_users_j (no pair holds more users than its source item: p_hat <= 1). -#}
noised as (
    select
        c.source_key,
        c.target_key,
        least(cast(round(c.n_users_ji + {{ scalr_laplace("s.domain || '|' || s.item_id || '|' || t.item_id",
            scalr_var_number('noise_seed', 'int_translation', integer=true), 1.0 / epsilon) }}) as bigint),
            c.n_users_j) as n_users_ji,
        c.n_users_j
    from raw_cooccurrence as c
    inner join items as s on c.source_key = s.item_key
    inner join items as t on c.target_key = t.item_key
),

cooccurrence as (
    select * from noised where n_users_ji > 0
),
{%- else -%}
    cooccurrence as (
        select * from raw_cooccurrence
    ),
{%- endif %}

{% if top_n -%}
ranked as (
    select
        *,
        row_number() over (
            partition by source_key
            order by n_users_ji desc, target_key
        ) as support_rank
    from cooccurrence
),

kept as (
    select * from ranked
    where support_rank <= {{ top_n }}
),
{%- else -%}
    {#- No top-N filter: skip the support_rank window (one sort of every pair less). -#}
    kept as (
        select * from cooccurrence
    ),
{%- endif %}

{% if beta -%}
{#- pop_share_i: target item i's share of the target user-items (users per item / all). -#}
target_popularity as (
    select
        item_key as target_key,
        cast(n_users as double) / sum(n_users) over () as pop_share
    from items
    where domain_role = 'target'
),

scored as (
    select
        k.source_key,
        k.target_key,
        k.n_users_ji,
        k.n_users_j,
        (k.n_users_ji + {{ beta }} * coalesce(p.pop_share, 0)) / (k.n_users_j + {{ beta }}) as p_score
    from kept as k
    left join target_popularity as p on k.target_key = p.target_key
),

normalised as (
    select
        *,
        cast(n_users_ji as double) / n_users_j as p_hat,
        p_score / sum(p_score) over (partition by source_key) as p_norm,
        row_number() over (
            partition by source_key
            order by p_score desc, target_key asc
        ) as target_rank,
        count(*) over (partition by source_key) as n_targets
    from scored
),
{%- else -%}
    {#- No shrinkage: p_norm is proportional to n_users_ji, so the window sorts integers only
        (n_users_ji / n_users_j is strictly increasing in n_users_ji for one j: same ranks), and
        p_norm = n_users_ji / sum n_users_ji is the correctly rounded ratio. The per-source sum and
        count come from a GROUP BY joined back instead of two more windows: 4.32 -> 3.73 s at 39.6 M
        pairs (docs/performance.md). -#}
    source_totals as (
        select
            source_key,
            sum(n_users_ji) as n_users_kept,
            count(*) as n_targets
        from kept
        group by source_key
    ),

    ranked_targets as (
        select
            *,
            row_number() over (
                partition by source_key
                order by n_users_ji desc, target_key asc
            ) as target_rank
        from kept
    ),

    normalised as (
        select
            r.*,
            t.n_users_kept,
            t.n_targets,
            cast(r.n_users_ji as double) / r.n_users_j as p_hat,
            cast(r.n_users_ji as double) / t.n_users_kept as p_norm
        from ranked_targets as r
        inner join source_totals as t on r.source_key = t.source_key
    ),
{%- endif %}

final as (
    select
        source_key,
        target_key,
        n_users_ji,
        n_users_j,
        p_hat,
        p_norm,
        target_rank,
        n_targets
    from normalised
)

select * from final

{#- P_hat(i|j) (SCALR Eq. 4), written once and fitted twice (README "The early-stopping slice and
    P_hat"): each macro is the body of one step of the co-occurrence chain, called with its input
    relations by the models of both fits:
      the whole train window:        int_user_items -> int_items, int_overlap_users
                                     -> int_cooccurrence -> int_translation -> translation
      without the early-stopping     int_training_user_items -> int_training_items,
      slice's target events:         int_training_overlap_users -> int_training_cooccurrence
                                     -> int_training_translation -> training_translation
    Error messages and var checks name the calling model (this.name). -#}

{% macro scalr_user_items_sql(events) -%}
{#- Distinct (user, domain, item) positives of the train window: the indicator semantics of the
    co-occurrence counts. With var max_items_per_user = N, each user keeps their N most recent
    distinct items per domain (ties by item_id), bounding the sum_u |S_u| * |T_u| blow-up.

    Performance (docs/performance.md): every later co-occurrence step joins, groups and ranks on
    integers, so the dense surrogate keys are assigned here, once: user_key numbers the users in
    user_id order and item_key the (domain, item_id) pairs in (domain, item_id) order. Within one
    domain item_key therefore sorts like item_id, so "ties by item_id" can be broken on item_key.
    Keys depend only on the set of ids, not on row order or threads. -#}
{%- set cap = scalr_var_number('max_items_per_user', this.name, integer=true, min_value=1, nullable=true) -%}

with

positives as (
    select * from {{ events }}
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
{%- endmacro %}

{% macro scalr_items_sql(user_items) -%}
{#- The item dimension of the co-occurrence models: one row per item_key of int_user_items with its
    text ids and the number of users with a positive on it. translation joins the text ids back
    onto its integer-keyed pairs from here, once, at the end. -#}

with

user_items as (
    select * from {{ user_items }}
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
{%- endmacro %}

{% macro scalr_overlap_users_sql(user_items) -%}
{#- Overlap users: at least one source-domain and one target-domain positive in the train window.
    int_user_items holds distinct (user, domain, item) rows, so counting rows per role counts
    distinct items; everything groups on the integer user_key. -#}
{%- if scalr_checks_data() -%}
  {%- set q -%}
    select
        sum(case when n_source_items > 0 then 1 else 0 end),
        sum(case when n_target_items > 0 then 1 else 0 end),
        count(*),
        sum(case when n_source_items > 0 and n_target_items > 0 then 1 else 0 end)
    from (
        select
            user_key,
            sum(case when domain_role = 'source' then 1 else 0 end) as n_source_items,
            sum(case when domain_role = 'target' then 1 else 0 end) as n_target_items
        from {{ user_items }}
        group by user_key
    ) as per_user
  {%- endset -%}
  {%- set r = run_query(q).rows[0] -%}
  {%- if (r[3] or 0) == 0 -%}
    {{ scalr_fail(this.name, "column user_id: 0 of " ~ r[2] ~ " users (" ~ (r[0] or 0) ~ " with source, "
        ~ (r[1] or 0) ~ " with target positives) have positives in both a source and the target domain in the"
        ~ " train window; P_hat(i|j) needs overlapping users") }}
  {%- endif -%}
{%- endif -%}

with

user_items as (
    select * from {{ user_items }}
),

per_user as (
    select
        user_key,
        user_id,
        sum(case when domain_role = 'source' then 1 else 0 end) as n_source_items,
        sum(case when domain_role = 'target' then 1 else 0 end) as n_target_items
    from user_items
    group by user_key, user_id
),

final as (
    select * from per_user
    where n_source_items > 0 and n_target_items > 0
)

select * from final
{%- endmacro %}

{% macro scalr_cooccurrence_sql(user_items, overlap_users) -%}
{#- Co-occurrence with distinct-user (indicator) semantics: n_users_ji = number of overlap users
    with source item j and target item i in the train window; n_users_j = number of overlap users
    with j (Eq. 4's denominator, before any pair filter); p_hat = n_users_ji / n_users_j, the
    unfiltered P_hat(i|j) of Eq. 4 over integer keys (translation filters, ranks, normalises it
    and joins the text ids).

    Performance (docs/performance.md): the work is sum_u |S_u| * |T_u| (u, j, i) triples, so the
    self-join and its GROUP BY run on the dense integer keys of int_user_items (user_key, item_key)
    and the result stays integer-keyed: source_key / target_key are item_keys (int_items holds
    their text ids, which translation joins back once).
    The GROUP BY is split into P partitions by source_key (mod(source_key, P) = k, one UNION ALL
    branch each; the pairs of different partitions are disjoint, so the result is the same for
    every P). P comes from macro scalr_cooccurrence_partitions: about
    var cooccurrence_partition_triples triples per partition (1 to 64; var cooccurrence_partitions
    fixes it). One GROUP BY of 56.7 M triples into 39.6 M pairs ran 5.3 s; 32 partitions of ~1.2 M
    pairs each 3.1 s (docs/performance.md). -#}
{%- set n_parts = scalr_cooccurrence_partitions(overlap_users) -%}

with

user_items as (
    select
        u.user_key,
        u.domain_role,
        u.item_key
    from {{ user_items }} as u
    inner join {{ overlap_users }} as o on u.user_key = o.user_key
),

source_pairs as {{ scalr_cte_materialized() }} (
    select
        user_key,
        item_key as source_key
    from user_items
    where domain_role = 'source'
),

target_pairs as {{ scalr_cte_materialized() }} (
    select
        user_key,
        item_key as target_key
    from user_items
    where domain_role = 'target'
),

pair_counts as (
    {% for k in range(n_parts) -%}
        {% if not loop.first -%}
            union all
        {% endif -%}
        select
            s.source_key,
            t.target_key,
            count(*) as n_users_ji
        from source_pairs as s
        inner join target_pairs as t on s.user_key = t.user_key
        where mod(s.source_key, {{ n_parts }}) = {{ k }}
        group by s.source_key, t.target_key
    {% endfor %}
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
        p.source_key,
        p.target_key,
        cast(p.n_users_ji as integer) as n_users_ji,
        cast(c.n_users_j as integer) as n_users_j,
        cast(p.n_users_ji as double) / c.n_users_j as p_hat
    from pair_counts as p
    inner join source_counts as c on p.source_key = c.source_key
)

select * from final
{%- endmacro %}

{% macro scalr_translation_sql(cooccurrence, items) -%}
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
{%- set min_support = scalr_var_number('min_support', this.name, integer=true, min_value=0, nullable=true) or 1 -%}
{%- set top_n = scalr_var_number('max_targets_per_source', this.name, integer=true, min_value=1, nullable=true) -%}
{%- set beta = scalr_var_number('translation_shrinkage', this.name, min_value=0, nullable=true) or 0 -%}
{%- set epsilon = scalr_var_number('count_noise_epsilon', this.name, min_value=0, nullable=true) -%}

with

raw_cooccurrence as (
    {#- the k-support floor (var min_support) holds on the true count, before any noise -#}
    select
        source_key,
        target_key,
        n_users_ji,
        n_users_j
    from {{ cooccurrence }}
    where n_users_ji >= {{ min_support }}
),

{% if epsilon or beta -%}
items as (
    select * from {{ items }}
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
            scalr_var_number('noise_seed', this.name, integer=true), 1.0 / epsilon) }}) as bigint),
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
{%- endmacro %}

{% macro scalr_translation_ids_sql(translation, items) -%}
{#- The translation P_hat(i|j) (SCALR Eq. 4) with text ids: one row per (source_domain,
    source_item, target_item). The numbers are computed in int_translation over integer item keys;
    this view joins the text ids of int_items onto them at read time (docs/performance.md: writing
    the text of every pair cost as much as computing it). -#}

with

translation as (
    select * from {{ translation }}
),

items as (
    select * from {{ items }}
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
{%- endmacro %}

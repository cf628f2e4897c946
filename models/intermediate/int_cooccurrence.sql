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
{%- set n_parts = scalr_cooccurrence_partitions(ref('int_overlap_users')) -%}

with

user_items as (
    select
        u.user_key,
        u.domain_role,
        u.item_key
    from {{ ref('int_user_items') }} as u
    inner join {{ ref('int_overlap_users') }} as o on u.user_key = o.user_key
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

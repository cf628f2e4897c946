{#- What the synthetic data reveal about individual users, one row per metric. See the README's
    "Privacy" section for what each option guarantees and what it does not. -#}

with

synthetic as (
    select
        user_id,
        target_item,
        source_domain,
        source_item
    from {{ ref('synthetic_events_aligned') }}
),

true_support as (
    {#- the TRUE number of overlap users of each pair (int_cooccurrence): with count_noise_epsilon
        the n_users_ji of translation and of the synthetic rows is the noisy one -#}
    select
        s.domain as source_domain,
        s.item_id as source_item,
        t.item_id as target_item,
        c.n_users_ji
    from {{ ref('int_cooccurrence') }} as c
    inner join {{ ref('int_items') }} as s on c.source_key = s.item_key
    inner join {{ ref('int_items') }} as t on c.target_key = t.item_key
),

synthetic_support as (
    select ts.n_users_ji
    from synthetic as sy
    inner join true_support as ts
        on
            sy.source_domain = ts.source_domain and sy.source_item = ts.source_item
            and sy.target_item = ts.target_item
),

translation as (
    select * from {{ ref('translation') }}
),

support as (
    select
        count(*) as n_rows,
        sum(case when n_users_ji <= 1 then 1 else 0 end) as n_le_1,
        sum(case when n_users_ji <= 2 then 1 else 0 end) as n_le_2,
        sum(case when n_users_ji <= 5 then 1 else 0 end) as n_le_5
    from synthetic_support
),

train_pairs as (
    select distinct
        user_id,
        item_id
    from {{ ref('int_target_train_events') }}
),

eval_new_pairs as (
    {#- real (u, i) of the eval window that the model never saw in train -#}
    select distinct
        e.user_id,
        e.item_id
    from {{ ref('int_target_eval_events') }} as e
    left join train_pairs as t on e.user_id = t.user_id and e.item_id = t.item_id
    where e.label = 1 and t.user_id is null
),

eval_user_sizes as (
    select
        user_id,
        count(*) as n_items
    from eval_new_pairs
    group by user_id
),

eval_item_counts as (
    select
        item_id,
        count(*) as n_pairs
    from eval_new_pairs
    group by item_id
),

eval_total as (
    select count(*) as n_pairs from eval_new_pairs
),

copies as (
    select
        count(*) as n_synthetic_pairs,
        sum(case when p.user_id is not null then 1 else 0 end) as n_copied,
        {#- chance: user u's eval items drawn by eval popularity; P(i in E_u) ~ min(1, |E_u| * share_i),
            summed as integers (min(total, |E_u| * n_i)) so the result does not depend on the
            order of a parallel floating-point sum -#}
        
        sum(least(et.n_pairs, coalesce(s.n_items, 0) * coalesce(ic.n_pairs, 0))) * 1.0
        / nullif(max(et.n_pairs), 0) as n_expected
    from (select distinct
        user_id,
        target_item
    from synthetic) as d
    cross join eval_total as et
    left join eval_new_pairs as p on d.user_id = p.user_id and d.target_item = p.item_id
    left join eval_user_sizes as s on d.user_id = s.user_id
    left join eval_item_counts as ic on d.target_item = ic.item_id
),

overlap_source as (
    select
        u.user_id,
        u.domain as source_domain,
        u.item_id as source_item
    from {{ ref('int_user_items') }} as u
    inner join {{ ref('int_overlap_users') }} as o on u.user_id = o.user_id
    where u.domain_role = 'source'
),

overlap_target as (
    select
        u.user_id,
        u.item_id as target_item
    from {{ ref('int_user_items') }} as u
    inner join {{ ref('int_overlap_users') }} as o on u.user_id = o.user_id
    where u.domain_role = 'target'
),

user_contribution as (
    {#- a user adds 1 to n_users_ji of every kept pair (j, i) they hold: their share of j's mass -#}
    select
        s.source_domain,
        s.source_item,
        s.user_id,
        count(*) as n_pairs
    from overlap_source as s
    inner join overlap_target as t on s.user_id = t.user_id
    inner join translation as tr
        on
            s.source_domain = tr.source_domain and s.source_item = tr.source_item
            and t.target_item = tr.target_item
    group by s.source_domain, s.source_item, s.user_id
),

mass as (
    select
        source_domain,
        source_item,
        sum(n_users_ji) as total
    from translation
    group by source_domain, source_item
),

max_share as (
    select
        c.source_domain,
        c.source_item,
        max(c.n_pairs * 1.0 / m.total) as top_user_share
    from user_contribution as c
    inner join mass as m on c.source_domain = m.source_domain and c.source_item = m.source_item
    group by c.source_domain, c.source_item
),

draws_on_dominated as (
    select avg(case when m.top_user_share > 0.5 then 1.0 else 0.0 end) as share
    from synthetic as s
    inner join max_share as m on s.source_domain = m.source_domain and s.source_item = m.source_item
),

metrics as (
    select
        'share_support_le_1' as metric,
        n_le_1 * 1.0 / nullif(n_rows, 0) as value,
        'share of aligned synthetic events drawn from pairs supported by at most 1 overlap user' as detail
    from support
    union all
    select
        'share_support_le_2',
        n_le_2 * 1.0 / nullif(n_rows, 0),
        'the same for at most 2 users'
    from support
    union all
    select
        'share_support_le_5',
        n_le_5 * 1.0 / nullif(n_rows, 0),
        'the same for at most 5 users'
    from support
    union all
    select
        'copy_rate',
        n_copied * 1.0 / nullif(n_synthetic_pairs, 0),
        'share of distinct synthetic (user, item) equal to a real eval-window positive not seen in train'
    from copies
    union all
    select
        'copy_rate_chance',
        n_expected * 1.0 / nullif(n_synthetic_pairs, 0),
        'copy rate expected by chance (user eval size x item eval popularity share)'
    from copies
    union all
    select
        'max_user_mass_share',
        max(top_user_share),
        'largest share of one source item''s P_hat mass that a single user determines'
    from max_share
    union all
    select
        'mean_top_user_mass_share',
        avg(top_user_share),
        'mean over source items of the largest single-user share of the P_hat mass'
    from max_share
    union all
    select
        'share_draws_user_dominated',
        share,
        'share of synthetic events whose source item has one user holding > 50 % of its P_hat mass'
    from draws_on_dominated
),

final as (
    {#- rounded to 12 decimals: averages of ratios are parallel floating-point sums, and the audit
        must be byte-identical whatever the thread count -#}
    select
        cast(metric as varchar) as metric,
        cast(round(value, 12) as double) as value,
        cast(detail as varchar) as detail
    from metrics
)

select * from final

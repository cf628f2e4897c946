{#- Synthetic target events drawn in pure SQL with equi-joins only (README "Spark"): the two-stage
    sampler, so synthetic events can be generated on an engine where no Python model runs.

    p_norm(i|j) = n_ji / sum_i' n_ji' and sum_i' n_ji' = sum over the overlap users u' of j of
    |T_u'| (their distinct target train items). So a draw for a source event (u, j) is a uniform
    position r in [0, total_j), total_j = sum_u' |T_u'|, on the ranges of j's overlap users laid end
    to end (user_key order, range length |T_u'|): the range holding r picks u' with probability
    proportional to |T_u'|, and r - range_start is a uniform index into u''s target items.
    Equi-joins only: the ranges are cut into buckets of width ceil(total_j / n_users_j) and each
    range is stored once per bucket it touches (at most about 3 rows per overlap user and source
    item), so the draw joins on (source_key, bucket) and keeps the one range holding r (about 3
    candidate rows per draw on average), then joins (user_key, target_index) to the user's numbered
    target items. Storage and work are O(source + target user-items + draws), never the
    co-occurrence.

    leave_self_out (default true): when u is itself an overlap user of j, r is drawn in
    [0, total_j - |T_u|) and moved past u's own range, i.e. the draw follows
    (n_ji - o_ui) / (total_j - |T_u|), P_hat without u (as synthetic_events defines it); an event
    whose source item has no other overlap user gets no draw.
    The uniform of draw d of an event is scalr_md5_uniform of synthetic_seed, the event's key and
    d: the same rows on every engine (DuckDB, Spark) and for any thread count.

    The draws follow the unfiltered P_hat (n_ji over the overlap users). The knobs that need the
    pair counts (min_support, max_targets_per_source, translation_shrinkage, count_noise_epsilon,
    synthetic_strategy topk, synthetic_temperature, synthetic_top_p, min_confidence) are not
    applied here; the build log says so when one is set. p, p_hat and n_users_ji are the
    translation's values of the drawn pair (null where translation filtered the pair out). -#}
{%- set k = scalr_var_number('synthetic_k', 'synthetic_events_sql', integer=true, min_value=1) -%}
{%- set seed = scalr_var_number('synthetic_seed', 'synthetic_events_sql', integer=true) -%}
{%- set alpha = scalr_var_number('user_weight_alpha', 'synthetic_events_sql', min_value=0) or 0 -%}
{%- set lso = (var('leave_self_out') | string | trim | lower) in ['true', '1'] -%}
{%- set confidence = var('confidence_weight') -%}
{%- if confidence not in ['uniform', 'p', 'sqrt_p'] and execute -%}
  {{ scalr_fail('synthetic_events_sql', "var confidence_weight = '" ~ confidence ~ "' is not uniform, p or sqrt_p") }}
{%- endif -%}
{%- do scalr_sampler_sql_log_ignored() -%}
{%- set weight_sql = {'uniform': 'cast(1 as double)', 'p': 'p', 'sqrt_p': 'sqrt(p)'}.get(confidence, 'p') -%}
{%- if alpha -%}
  {%- set weight_sql = weight_sql ~ ' * power(cast(n_user_events as double), -' ~ alpha ~ ')' -%}
{%- endif -%}
{%- set draw_key = scalr_sql_list([seed ~ ':']) ~ " || e.user_id || ':' || e.source_domain || ':' || e.source_item"
    ~ " || ':' || cast(" ~ scalr_epoch_us('e.event_ts') ~ " as " ~ scalr_text_type() ~ ")"
    ~ " || ':' || cast(e.label as " ~ scalr_text_type() ~ ") || ':' || cast(d.draw as " ~ scalr_text_type() ~ ")" %}

with

user_items as (
    select
        user_key,
        user_id,
        domain_role,
        item_key
    from {{ ref('int_user_items') }}
),

overlap_users as (
    select
        user_key,
        cast(n_target_items as bigint) as n_target_items
    from {{ ref('int_overlap_users') }}
),

overlap_sources as (
    {#- (j, u') for every overlap user u' holding source item j, with |T_u'| -#}
    select
        u.item_key as source_key,
        u.user_key,
        u.user_id,
        o.n_target_items
    from user_items as u
    inner join overlap_users as o on u.user_key = o.user_key
    where u.domain_role = 'source'
),

user_ranges as (
    select
        source_key,
        user_key,
        user_id,
        n_target_items,
        sum(n_target_items) over (
            partition by source_key order by user_key rows between unbounded preceding and current row
        ) - n_target_items as range_start,
        sum(n_target_items) over (partition by source_key) as total_j,
        count(*) over (partition by source_key) as n_users_j
    from overlap_sources
),

source_totals as (
    select distinct
        source_key,
        cast(total_j as bigint) as total_j,
        cast(ceil(cast(total_j as double) / n_users_j) as bigint) as bucket_width
    from user_ranges
),

range_bounds as (
    select
        r.source_key,
        r.user_key,
        cast(r.range_start as bigint) as range_start,
        cast(r.n_target_items as bigint) as range_length,
        cast(floor(cast(r.range_start as double) / t.bucket_width) as bigint) as first_bucket,
        cast(floor(cast(r.range_start + r.n_target_items - 1 as double) / t.bucket_width) as bigint) as last_bucket
    from user_ranges as r
    inner join source_totals as t on r.source_key = t.source_key
),

range_buckets as (
    {#- each range once per bucket it touches -#}
    select
        source_key,
        user_key,
        range_start,
        range_length,
        {{ scalr_explode_range('first_bucket', 'last_bucket') }} as bucket
    from range_bounds
),

target_items as (
    {#- each overlap user's target items numbered 0 .. |T_u'| - 1 -#}
    select
        u.user_key,
        u.item_key as target_key,
        row_number() over (partition by u.user_key order by u.item_key) - 1 as target_index
    from user_items as u
    inner join overlap_users as o on u.user_key = o.user_key
    where u.domain_role = 'target'
),

items as (
    select
        item_key,
        domain,
        item_id
    from {{ ref('int_items') }}
),

source_events as (
    select
        e.user_id,
        e.source_domain,
        e.source_item,
        e.event_ts,
        e.label,
        e.n_user_events,
        i.item_key as source_key
    from {{ ref('int_source_events') }} as e
    inner join items as i on e.source_domain = i.domain and e.source_item = i.item_id
),

draw_numbers as (
    {% for d in range(k) -%}
        {% if not loop.first -%}
            union all
        {% endif -%}
        select {{ d }} as draw
    {% endfor %}
),

event_draws as (
    select
        e.user_id,
        e.source_domain,
        e.source_item,
        e.event_ts,
        e.label,
        e.n_user_events,
        e.source_key,
        d.draw,
        t.total_j,
        t.bucket_width,
        {%- if lso %}
            coalesce(o.range_start, 0) as own_start,
            coalesce(o.n_target_items, 0) as own_length,
        {%- else %}
            0 as own_start,
            0 as own_length,
        {%- endif %}
        {{ scalr_md5_uniform(draw_key) }} as uniform
    from source_events as e
    inner join source_totals as t on e.source_key = t.source_key
    cross join draw_numbers as d
    {%- if lso %}
        left join user_ranges as o on e.source_key = o.source_key and e.user_id = o.user_id
    {%- endif %}
),

positioned as (
    {#- r_free: uniform in [0, total_j - own_length); r skips the user's own range -#}
    select
        *,
        least(
            cast(floor(uniform * (total_j - own_length)) as bigint), total_j - own_length - 1
        ) as r_free
    from event_draws
    where total_j > own_length
),

located as (
    select
        *,
        r_free + case when own_length > 0 and r_free >= own_start then own_length else 0 end as r
    from positioned
),

bucketed as (
    select
        *,
        cast(floor(cast(r as double) / bucket_width) as bigint) as bucket
    from located
),

drawn as (
    select
        d.user_id,
        d.source_domain,
        d.source_item,
        d.event_ts,
        d.label,
        d.n_user_events,
        d.source_key,
        d.draw,
        b.user_key as donor_key,
        d.r - b.range_start as target_index
    from bucketed as d
    inner join range_buckets as b on d.source_key = b.source_key and d.bucket = b.bucket
    where b.range_start <= d.r and d.r < b.range_start + b.range_length
),

with_targets as (
    select
        d.*,
        t.target_key
    from drawn as d
    inner join target_items as t on d.donor_key = t.user_key and d.target_index = t.target_index
),

scored as (
    select
        w.user_id,
        ti.item_id as target_item,
        w.source_domain,
        w.source_item,
        w.event_ts,
        tr.p_norm as p,
        tr.p_hat,
        tr.n_users_ji,
        w.n_user_events,
        w.label,
        w.draw
    from with_targets as w
    inner join items as ti on w.target_key = ti.item_key
    left join {{ ref('int_translation') }} as tr on w.source_key = tr.source_key and w.target_key = tr.target_key
),

final as (
    select
        user_id,
        target_item,
        source_domain,
        source_item,
        event_ts,
        p,
        p_hat,
        -- the contract's types (synthetic_events_sql.yml)
        cast(n_users_ji as integer) as n_users_ji,
        {{ weight_sql }} as weight,
        cast(label as integer) as label,
        cast(draw as integer) as draw
    from scored
)

select * from final
order by user_id, source_domain, source_item, event_ts, label, draw

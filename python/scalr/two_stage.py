"""The two-stage sampler (var ``synthetic_sampler: two_stage``): exact draws from p_norm(.|j)
without the co-occurrence table, as one DuckDB query.

p_norm(i|j) = n_ji / sum_i' n_ji' (no pair filter, no shrinkage), and sum_i' n_ji' = N_j =
sum_{u' in U_j} |T_u'| (U_j: the overlap users holding source item j in int_user_items; T_u': their
distinct target train items). So a draw is one uniform integer r in [0, N_j): the (u', i)
incidences of j laid out user by user (u' in user_key order, |T_u'| slots each, T_u' in item_key
order) and r picks one of them. u' is the user whose cumulative range [cum_lo, cum_lo + |T_u'|)
holds r (an ASOF join on the per-j cumulative |T_u'|), i is u''s target number r - cum_lo (an
equi-join on (user_key, position)). P(i) = #{u' in U_j: i in T_u'} / N_j = n_ji / N_j exactly.
Work: O(source events + target user-items), never sum_u |S_u| |T_u|.

Leave-self-out (``leave_self_out``): the draw for event (u, j) skips u's own slots: r is uniform in
[0, N_j - |T_u|) and r >= u's cum_lo moves up by |T_u|, where u counts iff u is in U_j (holds j as
a source positive of int_user_items and is an overlap user). The result is n_ji^{-u} / N_j^{-u}
with n_ji^{-u} = n_ji - o_ui: exactly the leave-self-out distribution of the P_hat path
(scalr.sampling: p_norm_i (n_ji - o_ui) / n_ji renormalised, o_ui = 1 iff u holds j and i) when
p_norm is proportional to n_ji, which it is on this path (no shrinkage). A draw whose j has no slot
left (U_j = {u}) is dropped, as there.

Shrinkage (``beta`` = var translation_shrinkage > 0) is a mixture with target popularity: with
y = x (N'_j + beta) for a uniform x (N'_j = N_j or N_j - |T_u|), y < N'_j draws the incidence
floor(y) as above, else the target item is drawn from pop_share_i = n_users_i / sum n_users over
the target items of int_items (all users, the same share as int_translation's). So
P(i|j) = (n'_ji + beta pop_share_i) / (N'_j + beta) over **all** target items: unlike
int_translation, whose shrunk p_norm is normalised over j's co-occurring targets only, the
popularity part may draw targets that never co-occur with j (the point of a prior), and it is not
leave-self-out.

Pair columns: p, p_hat and n_users_ji are the counts of the drawn pairs only, computed when
``pair_stats`` (confidence_weight p / sqrt_p needs p): n_users_ji counted by joining the distinct
drawn pairs to U_j and T_u', p_hat = n_users_ji / |U_j|, p = (n_users_ji + beta pop_share_i) /
(N_j + beta) (without leave-self-out; equal to translation.p_norm when beta = 0). Otherwise they
are NULL (the columns and types stay synthetic_events').

Determinism: the uniforms are the top 53 bits of DuckDB ``hash(seed, source_key, user_id, event_ts,
label, stream)`` (stream = draw, or draw + K for the popularity pick), a function of the event and
the seed only, so the rows are the same whatever the thread count (and two events equal in all of
these columns draw the same items: synthetic_events' unique key assumes there are none); rows come
in (source_key, user_id, event_ts, label, draw) order, as on the P_hat path.
"""
from __future__ import annotations

from dataclasses import dataclass

# knobs that need the pair counts: they stay on the P_hat path (synthetic_sampler p_hat)
COUNT_KNOBS = ("min_support", "max_targets_per_source", "count_noise_epsilon", "synthetic_strategy",
               "synthetic_temperature", "synthetic_top_p", "min_confidence")
SAMPLERS = ("p_hat", "two_stage")
_TWO53 = 2.0 ** -53


@dataclass(frozen=True)
class TwoStageConfig:
    k: int = 3
    seed: int = 42
    leave_self_out: bool = True
    shrinkage: float = 0.0
    confidence_weight: str = "uniform"
    user_weight_alpha: float = 0.0

    def __post_init__(self) -> None:
        if self.k < 1:
            raise ValueError(f"synthetic_k must be >= 1, got {self.k}")
        if not self.shrinkage >= 0:
            raise ValueError(f"translation_shrinkage must be >= 0, got {self.shrinkage}")
        if self.confidence_weight not in ("uniform", "p", "sqrt_p"):
            raise ValueError(f"confidence_weight must be uniform, p or sqrt_p, got {self.confidence_weight!r}")
        if self.user_weight_alpha < 0:
            raise ValueError(f"user_weight_alpha must be >= 0, got {self.user_weight_alpha}")

    @property
    def pair_stats(self) -> bool:
        return self.confidence_weight != "uniform"


def count_knob_conflicts(knobs: dict) -> list[str]:
    """The count-needing knobs of ``knobs`` (var name -> value) set away from their neutral value."""
    neutral = {"min_support": (None, 1), "max_targets_per_source": (None,), "count_noise_epsilon": (None,),
               "synthetic_strategy": ("sample",), "synthetic_temperature": (1.0,), "synthetic_top_p": (1.0,),
               "min_confidence": (0.0,)}
    out = []
    for name in COUNT_KNOBS:
        v = knobs.get(name)
        if isinstance(v, str) and v.strip().lower() in ("none", "null", ""):
            v = None
        if v is not None and name != "synthetic_strategy":
            v = float(v)
        if v not in neutral[name]:
            out.append(f"{name}={knobs.get(name)!r}")
    return out


def check_config(sampler: str, knobs: dict) -> None:
    """Stop the build when two_stage is combined with knobs that need the pair counts."""
    if sampler not in SAMPLERS:
        raise ValueError(f"synthetic_events: synthetic_sampler must be one of {SAMPLERS}, got {sampler!r}")
    bad = count_knob_conflicts(knobs) if sampler == "two_stage" else []
    if bad:
        raise ValueError(
            "synthetic_events: synthetic_sampler two_stage never builds the pair counts, so "
            f"{', '.join(bad)} cannot apply; these knobs need synthetic_sampler p_hat (or their defaults)")


def two_stage_sql(source_events: str, user_items: str, overlap: str, items: str, cfg: TwoStageConfig) -> str:
    """The synthetic_events rows of the two-stage sampler (see the module doc), from the SQL of
    int_source_events, int_user_items, int_overlap_users and int_items."""
    k, seed, beta = int(cfg.k), int(cfg.seed), float(cfg.shrinkage)
    loo = "coalesce(h.w, 0)" if cfg.leave_self_out else "0"
    self_lo = "h.cum_lo" if cfg.leave_self_out else "cast(null as bigint)"
    pop_cte = pop_branch = ""
    if beta > 0:
        pop_cte = """,
        pop as (
            select item_key as target_key, n_users,
                sum(n_users) over (order by item_key rows between unbounded preceding and current row)
                    - n_users as cum_lo,
                sum(n_users) over () as pop_total
            from items where domain_role = 'target'
        )"""
        pop_branch = f"""
            union all
            select d.* exclude (r2, y, x2, n_left, self_lo, self_w), p.target_key
            from (select *, cast(floor(x2 * (select max(pop_total) from pop)) as bigint) as r2
                  from draws where y >= n_left) as d
            asof join pop as p on d.r2 >= p.cum_lo"""
    if cfg.pair_stats:
        stats = f""",
        pairs as (select distinct source_key, target_key from picked),
        pair_counts as (
            select p.source_key, p.target_key, count(*) as n_ji
            from pairs as p
            inner join holders as h on p.source_key = h.source_key
            inner join user_targets as t on h.user_key = t.user_key and p.target_key = t.target_key
            group by p.source_key, p.target_key
        ),
        pair_stats as (
            select p.source_key, p.target_key, cast(coalesce(c.n_ji, 0) as bigint) as n_users_ji,
                coalesce(c.n_ji, 0) * 1.0 / tt.n_users_j as p_hat,
                (coalesce(c.n_ji, 0) + {beta} * i.n_users * 1.0 / (select sum(n_users) from items
                    where domain_role = 'target')) / (tt.n_incidence + {beta}) as p
            from pairs as p
            inner join totals as tt on p.source_key = tt.source_key
            inner join items as i on p.target_key = i.item_key
            left join pair_counts as c on p.source_key = c.source_key and p.target_key = c.target_key
        )"""
        stats_join = "left join pair_stats as ps on pk.source_key = ps.source_key and pk.target_key = ps.target_key"
        p, p_hat, n_ji = "ps.p", "ps.p_hat", "ps.n_users_ji"
    else:
        stats, stats_join = "", ""
        p, p_hat, n_ji = "cast(null as double)", "cast(null as double)", "cast(null as bigint)"
    w_u = "1.0" if cfg.user_weight_alpha == 0 else f"pow(pk.n_user_events, {-float(cfg.user_weight_alpha)})"
    g = {"uniform": "1.0", "p": p, "sqrt_p": f"sqrt({p})"}[cfg.confidence_weight]
    return f"""
        with
        ui as (select user_key, user_id, domain_role, item_key from ({user_items})),
        ov as (select user_key, n_target_items from ({overlap})),
        items as (select item_key, domain, domain_role, item_id, n_users from ({items})),
        holders as (
            select s.item_key as source_key, s.user_key, cast(o.n_target_items as bigint) as w,
                sum(o.n_target_items) over (partition by s.item_key order by s.user_key
                    rows between unbounded preceding and current row) - o.n_target_items as cum_lo
            from ui as s inner join ov as o on s.user_key = o.user_key
            where s.domain_role = 'source'
        ),
        totals as (
            select source_key, sum(w) as n_incidence, count(*) as n_users_j from holders group by source_key
        ),
        user_targets as (
            select u.user_key, u.item_key as target_key,
                row_number() over (partition by u.user_key order by u.item_key) - 1 as pos
            from ui as u inner join ov as o on u.user_key = o.user_key
            where u.domain_role = 'target'
        ){pop_cte},
        events as (
            select i.item_key as source_key, e.user_id, e.source_domain, e.source_item,
                cast(e.event_ts as timestamp) as event_ts, cast(e.label as integer) as label, e.n_user_events
            from ({source_events}) as e
            inner join items as i
                on i.domain_role = 'source' and e.source_domain = i.domain and e.source_item = i.item_id
        ),
        held as (select user_id, user_key, item_key from ui where domain_role = 'source'),
        keyed as (
            select ev.*, t.n_incidence - {loo} as n_left, {self_lo} as self_lo, {loo} as self_w
            from events as ev
            inner join totals as t on ev.source_key = t.source_key
            left join held as hd on ev.user_id = hd.user_id and ev.source_key = hd.item_key
            left join holders as h on ev.source_key = h.source_key and hd.user_key = h.user_key
        ),
        draws as (
            select n.*, cast(d.draw as integer) as draw,
                (hash({seed}, n.source_key, n.user_id, n.event_ts, n.label, d.draw) >> 11)
                    * {_TWO53!r} * (n.n_left + {beta}) as y,
                (hash({seed}, n.source_key, n.user_id, n.event_ts, n.label, d.draw + {k}) >> 11) * {_TWO53!r} as x2
            from keyed as n cross join range({k}) as d(draw)
        ),
        incidence as (
            select * exclude (r),
                r + case when self_lo is not null and r >= self_lo then self_w else 0 end as r
            from (select *, cast(floor(y) as bigint) as r from draws where y < n_left)
        ),
        picked as (
            select d.* exclude (r, y, x2, n_left, self_lo, self_w), t.target_key
            from incidence as d
            asof join holders as h on d.source_key = h.source_key and d.r >= h.cum_lo
            inner join user_targets as t on h.user_key = t.user_key and d.r - h.cum_lo = t.pos{pop_branch}
        ){stats}
        select
            pk.user_id,
            ti.item_id as target_item,
            pk.source_domain,
            pk.source_item,
            pk.event_ts,
            {p} as p,
            {p_hat} as p_hat,
            {n_ji} as n_users_ji,
            cast({g} * {w_u} as double) as weight,
            pk.label,
            pk.draw
        from picked as pk
        inner join items as ti on pk.target_key = ti.item_key
        {stats_join}
        order by pk.source_key, pk.user_id, pk.event_ts, pk.label, pk.draw
    """

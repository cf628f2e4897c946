"""The two-stage sampler (var ``synthetic_sampler: two_stage``): exact draws from p_norm(.|j)
without the co-occurrence table, two implementations of one definition: ``two_stage_stream``
(numpy over the ordered event stream, what synthetic_events runs) and ``two_stage_sql`` (one DuckDB
query; synthetic_events runs it when confidence_weight needs the drawn pairs' counts, and the tests
check both against the same oracle).

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

Streaming (``two_stage_stream``, docs/performance.md): DuckDB sorts only the source events
(source_key, user_id, event_ts, label, as the P_hat path reads them; for leave-self-out the user's
key is joined from the overlap users' ids in that query, and u counts where (j, u) is a holder); the holders (j, u', |T_u'|) in (j, u') order with global prefix sums, the overlap users'
targets as CSR by user_key and the popularity prefix sums are held in memory (O(user-items)). A
batch of events draws K uniforms per event, ``scalr.sampling.hash_uniform(seed, e * K + d, 0)`` for
event number e of the total order and draw d (the popularity pick: stream 1), finds the holder by a
searchsorted within j's holders and reads its target; rows are written in event order (no sort of
the K x events rows) with the text columns dictionary-encoded. The rows are a function of the
inputs and the seed whatever the batch size or thread count; they are not the SQL query's rows
(different uniforms, same distribution). ``pair_stats`` stays on the SQL query.

Determinism (SQL query): the uniforms are the top 53 bits of DuckDB ``hash(seed, source_key, user_id, event_ts,
label, stream)`` (stream = draw, or draw + K for the popularity pick), a function of the event and
the seed only, so the rows are the same whatever the thread count (and two events equal in all of
these columns draw the same items: synthetic_events' unique key assumes there are none); rows come
in (source_key, user_id, event_ts, label, draw) order, as on the P_hat path.
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from scalr.sampling import (STREAM_SCHEMA, TargetCodes, _compact, _dict_column, _np, _plain, events_sql,
                            hash_uniform)

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


# ------------------------------------------------------------------ streaming (numpy) sampler

STREAM_BATCH_ROWS = 1_000_000  # source events per batch the model reads


def holders_sql(user_items: str, overlap: str) -> str:
    """j's overlap users (holders) with |T_u'|, in (source_key, user_key) order."""
    return f"""
        select s.item_key as source_key, s.user_key, cast(o.n_target_items as bigint) as w
        from ({user_items}) as s
        inner join ({overlap}) as o on s.user_key = o.user_key
        where s.domain_role = 'source'
        order by source_key, s.user_key"""


def user_targets_sql(user_items: str, overlap: str) -> str:
    """The overlap users' target train items, in (user_key, target_key) order."""
    return f"""
        select u.user_key, u.item_key as target_key
        from ({user_items}) as u
        inner join ({overlap}) as o on u.user_key = o.user_key
        where u.domain_role = 'target'
        order by u.user_key, target_key"""


def stream_sources_sql(user_items: str, overlap: str, items: str) -> str:
    """Source items with at least one holder: (source_key, source_domain, source_item) by key."""
    return f"""
        with held as (
            select distinct s.item_key as source_key
            from ({user_items}) as s
            inner join ({overlap}) as o on s.user_key = o.user_key
            where s.domain_role = 'source'
        )
        select h.source_key, i.domain as source_domain, i.item_id as source_item
        from held as h
        inner join ({items}) as i on h.source_key = i.item_key
        order by h.source_key"""


def popularity_sql(items: str) -> str:
    """Target items with their user counts (the shrinkage prior), in item_key order."""
    return f"""select item_key as target_key, item_id as target_item, cast(n_users as bigint) as n_users
        from ({items}) where domain_role = 'target' order by item_key"""


@dataclass
class TwoStageTables:
    """The two-stage sampler's in-memory tables (see ``two_stage_stream``): holders in
    (source_key, user_key) order with the global exclusive prefix sums ``cum`` of |T_u'| (j's
    incidences are the global positions [cum[first_j], cum[first_j] + N_j)); the overlap users'
    targets as CSR by user_key (``ut_ptr``, ``ut_target`` codes); per source key with holders its
    first holder and N_j; the popularity prior's inclusive prefix sums over the target codes."""
    src_keys: np.ndarray
    src_first: np.ndarray
    src_total: np.ndarray
    h_key: np.ndarray  # source_key << 32 | user_key per holder (sorted)
    h_user: np.ndarray
    h_w: np.ndarray
    cum: np.ndarray
    ut_ptr: np.ndarray
    ut_target: np.ndarray
    pop_cum: np.ndarray

    @classmethod
    def build(cls, holders, user_targets, pop_n_users, target_code) -> "TwoStageTables":
        # memory at 1e8 source events (~3e7 holders): 24 bytes per holder kept (key, user, w, cum)
        sk = _np(holders["source_key"], np.int64)
        h_key = (sk << 32) | _np(holders["user_key"], np.int64)
        if len(h_key) > 1 and not (h_key[1:] > h_key[:-1]).all():
            raise ValueError("two_stage: holders are not unique and sorted by (source_key, user_key)")
        brk = np.flatnonzero(np.r_[True, sk[1:] != sk[:-1]]) if len(sk) else np.zeros(0, np.int64)
        src_keys = sk[brk]
        del sk
        uk = _np(holders["user_key"], np.int32)
        w = _np(holders["w"], np.int32)
        cum = np.zeros(len(w), np.int64)
        if len(w):
            np.cumsum(w[:-1], out=cum[1:])
        src_total = np.add.reduceat(w.astype(np.int64), brk) if len(w) else np.zeros(0, np.int64)
        tu = _np(user_targets["user_key"], np.int64)
        tt = target_code(_np(user_targets["target_key"], np.int64)).astype(np.int32)
        n_u = int(max(uk.max() if len(uk) else 0, tu.max() if len(tu) else 0)) + 1
        ut_ptr = np.zeros(n_u + 1, np.int64)
        np.cumsum(np.bincount(tu, minlength=n_u), out=ut_ptr[1:])
        del tu
        if (np.diff(ut_ptr)[uk] != w).any():
            raise ValueError("two_stage: int_overlap_users.n_target_items differs from the users' target rows")
        pop_cum = np.cumsum(np.asarray(pop_n_users, np.int64))
        return cls(src_keys, brk.astype(np.int64), src_total, h_key, uk, w, cum, ut_ptr, tt, pop_cum)


def _holder_of(t: TwoStageTables, gpos: np.ndarray, g: np.ndarray) -> np.ndarray:
    """The holder whose incidence range holds global position gpos (cum[h] <= gpos < cum[h + 1]),
    gpos grouped by source item (g ascending): one searchsorted per source item within its
    holders (cache-local: 2.3 s against 3.0 s for one global search at 1e7 source events)."""
    h = np.empty(len(gpos), np.int64)
    if not len(gpos):
        return h
    brk = np.flatnonzero(np.r_[True, g[1:] != g[:-1], True])
    first, last = t.src_first, np.r_[t.src_first[1:], len(t.cum)]
    for a, b in zip(brk[:-1], brk[1:]):
        j = g[a]
        lo = first[j]
        h[a:b] = lo - 1 + np.searchsorted(t.cum[lo:last[j]], gpos[a:b], side="right")
    return h


def draw_batch(t: TwoStageTables, source_key, self_key, event0: int, cfg: TwoStageConfig):
    """Draws for a batch of events (sorted by source_key, every source key in ``t.src_keys``):
    (event index in the batch, draw number, target code) of the kept rows, event-major. ``self_key``
    is the user's user_key where u is an overlap user (else -1; it counts where u is a holder of j); ``event0`` numbers the batch's first event in
    the whole stream. The uniforms are ``scalr.sampling.hash_uniform(seed, (event0 + e) * K + d,
    stream)``: a function of the event's position in the total event order and the seed only."""
    k, beta = int(cfg.k), float(cfg.shrinkage)
    n = len(source_key)
    g = np.searchsorted(t.src_keys, source_key)
    if n and (g.max() >= len(t.src_keys) or (t.src_keys[g] != source_key).any()):
        raise ValueError("two_stage: an event's source item has no holder (the event stream must be inner-joined)")
    first = t.src_first[g]
    base = t.cum[first]
    n_left = t.src_total[g].copy()
    self_lo = np.full(n, -1, np.int64)
    self_w = np.zeros(n, np.int64)
    if cfg.leave_self_out:
        sk = np.asarray(self_key, np.int64)
        q = (source_key.astype(np.int64) << 32) | np.maximum(sk, 0)
        pos = np.minimum(np.searchsorted(t.h_key, q), max(len(t.h_key) - 1, 0))
        own = (sk >= 0) & (t.h_key[pos] == q)
        self_lo[own] = t.cum[pos[own]]
        self_w[own] = t.h_w[pos[own]]
        n_left -= self_w
    ev = np.repeat(np.arange(n, dtype=np.int64), k)
    d = np.tile(np.arange(k, dtype=np.int64), n)
    row = (event0 + ev) * k + d
    y = hash_uniform(cfg.seed, row, 0) * (n_left[ev] + beta)
    nl = n_left[ev]
    inc = y < nl
    keep = inc | (beta > 0)
    target = np.empty(len(row), np.int32)
    r = np.minimum(y[inc].astype(np.int64), nl[inc] - 1)
    ei = ev[inc]
    gpos = base[ei] + r
    gpos += np.where((self_lo[ei] >= 0) & (gpos >= self_lo[ei]), self_w[ei], 0)
    h = _holder_of(t, gpos, g[ei])
    target[inc] = t.ut_target[t.ut_ptr[t.h_user[h]] + (gpos - t.cum[h])]
    if beta > 0:
        pop = ~inc
        x2 = hash_uniform(cfg.seed, row[pop], 1) * t.pop_cum[-1]
        target[pop] = np.minimum(np.searchsorted(t.pop_cum, x2, side="right"), len(t.pop_cum) - 1)
    if keep.all():
        return ev, d, target
    return ev[keep], d[keep], target[keep]


def two_stage_stream(query, source_events: str, user_items: str, overlap: str, items: str,
                     cfg: TwoStageConfig, batch_rows: int = STREAM_BATCH_ROWS, stream=None):
    """The two-stage sampler in numpy (``pair_stats`` false): synthetic_events batches
    (``scalr.sampling.STREAM_SCHEMA``, text columns dictionary-encoded) in (source_key, user_id,
    event_ts, label, draw) order, from the SQL of int_source_events, int_user_items,
    int_overlap_users and int_items. ``query`` runs SQL to an Arrow table (the small inputs);
    ``stream`` runs SQL to a RecordBatchReader of ``batch_rows`` (the events; default: ``query``'s
    batches), in a worker thread while ``query`` builds the tables (so ``stream`` must use its own
    DuckDB cursor, made before the call). Same distribution as ``two_stage_sql`` (per draw one
    uniform picks one of j's incidences, leave-self-out skips u's own, shrinkage mixes in
    popularity), not the same
    uniforms: the SQL query hashes the event's columns, this path hashes the event's position in
    the total event order (the rows are a function of the inputs and the seed whatever the batch
    size)."""
    if cfg.pair_stats:
        raise ValueError("two_stage_stream: confidence_weight p / sqrt_p needs the pair counts (two_stage_sql)")
    # leave-self-out: u counts for event (u, j) iff u is a holder of j (an overlap user holding j),
    # so the user's key comes from a join on the overlap users' ids, built once in the events query
    # (not the held pairs of int_user_items: 7.1 s against 10.7 s at 1e7; not a per-batch Arrow
    # lookup, which re-hashed every overlap id per batch: ~390 s at 1e8) and the holder test from
    # the holders' keys
    ev_sql = events_sql(source_events, stream_sources_sql(user_items, overlap, items),
                        overlap_sql=overlap if cfg.leave_self_out else None)
    # the events query (its sort is most of the set-up) runs in a thread while the tables are built:
    # DuckDB releases the GIL while it sorts (docs/performance.md)
    with ThreadPoolExecutor(1, thread_name_prefix="scalr-events") as pool:
        opened = pool.submit(stream, ev_sql) if stream is not None else None
        pop = query(popularity_sql(items))
        targets = TargetCodes(_np(pop["target_key"], np.int64), _plain(pop["target_item"]))
        t = TwoStageTables.build(query(holders_sql(user_items, overlap)), query(user_targets_sql(user_items, overlap)),
                                 _np(pop["n_users"], np.int64), targets)
        src = query(stream_sources_sql(user_items, overlap, items))
        reader = opened.result() if opened is not None else query(ev_sql).to_batches(max_chunksize=batch_rows)
    src_keys = _np(src["source_key"], np.int64)
    src_dom, src_item = _plain(src["source_domain"]), _plain(src["source_item"])
    k, alpha = int(cfg.k), float(cfg.user_weight_alpha)

    def batches():
        event0 = 0
        for b in reader:
            n = b.num_rows
            if not n:
                continue
            key = _np(b["source_key"], np.int64)
            self_key = _np(b["self_key"], np.int64) if cfg.leave_self_out else None
            ev, d, target = draw_batch(t, key, self_key, event0, cfg)
            event0 += n
            if not len(ev):
                continue
            ev32 = ev.astype(np.int32)
            take = pa.array(ev32)
            run = np.searchsorted(src_keys, key)  # per event: its source item's row of src
            lo, hi = int(run.min()), int(run.max()) + 1
            w_u = (_np(b["n_user_events"], np.float64) ** -alpha) if alpha > 0 else np.ones(n)
            m = len(ev)
            yield pa.RecordBatch.from_arrays([
                _dict_column(ev32, _plain(b["user_id"])),
                _compact(target, targets.dictionary),
                _dict_column((run - lo)[ev].astype(np.int32), src_dom.slice(lo, hi - lo)),
                _dict_column((run - lo)[ev].astype(np.int32), src_item.slice(lo, hi - lo)),
                _plain(b["event_ts"], pa.timestamp("us")).take(take),
                pa.nulls(m, pa.float64()), pa.nulls(m, pa.float64()), pa.nulls(m, pa.int64()),
                pa.array(w_u[ev]),
                _plain(b["label"], pa.int32()).take(take),
                pa.array(d.astype(np.int32)),
            ], schema=STREAM_SCHEMA)

    return pa.RecordBatchReader.from_batches(STREAM_SCHEMA, batches())

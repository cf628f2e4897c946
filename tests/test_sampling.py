"""Statistical and exactness tests of the vectorized sampler (scalr.sampling)."""
from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from scipy import stats

from scalr.sampling import (OUTPUT_SCHEMA, STREAM_SCHEMA, ChunkTables, LooStats, SamplingConfig, SourceItems,
                            TargetCodes, alias_tables, encode_events, encode_translation, sample_sorted,
                            sample_stream, sample_synthetic, tempered)


def planted_translation(seed=0, sizes=(3, 8, 25, 60)) -> pa.Table:
    rng = np.random.default_rng(seed)
    rows = {k: [] for k in ["source_domain", "source_item", "target_item", "n_users_ji", "n_users_j",
                            "p_hat", "p_norm", "target_rank"]}
    for g, size in enumerate(sizes):
        n = rng.integers(1, 50, size)
        order = np.lexsort((np.arange(size), -n))
        n = n[order]
        for r, c in enumerate(n):
            rows["source_domain"].append("src")
            rows["source_item"].append(f"j{g}")
            rows["target_item"].append(f"i{g}_{r}")
            rows["n_users_ji"].append(int(c))
            rows["n_users_j"].append(int(n.max() + 10))
            rows["p_hat"].append(c / (n.max() + 10))
            rows["p_norm"].append(c / n.sum())
            rows["target_rank"].append(r + 1)
    return pa.table(rows)


def events_for(translation: pa.Table, n_per_item: int, extra_unknown: int = 0) -> pa.Table:
    items = sorted(set(translation["source_item"].to_pylist())) + ["unknown"] * (extra_unknown > 0)
    src = np.repeat(items, [n_per_item] * (len(items) - (extra_unknown > 0)) + ([extra_unknown] if extra_unknown else []))
    n = len(src)
    return pa.table({
        "user_id": [f"u{k % 97}" for k in range(n)],
        "source_domain": ["src"] * n,
        "source_item": src.tolist(),
        "event_ts": pa.array(np.full(n, np.datetime64("2024-05-01T00:00:00", "us"))),
        "label": pa.array(np.ones(n, np.int32)),
    })


def chi_square_pvalue(synthetic: pa.Table, translation: pa.Table, expected_col: str = "p_norm") -> float:
    """Pooled chi-square goodness of fit of drawn (j, i) frequencies against expected per j."""
    obs = synthetic.group_by(["source_item", "target_item"]).aggregate([("draw", "count")]).to_pandas()
    t = translation.to_pandas()
    m = t.merge(obs, on=["source_item", "target_item"], how="left").fillna({"draw_count": 0})
    chi2, dof = 0.0, 0
    for _, g in m.groupby("source_item"):
        n = g.draw_count.sum()
        e = n * g[expected_col] / g[expected_col].sum()
        keep = e > 0
        assert (g.draw_count[~keep] == 0).all(), "draws on zero-probability targets"
        chi2 += float(((g.draw_count[keep] - e[keep]) ** 2 / e[keep]).sum())
        dof += int(keep.sum()) - 1
    return float(stats.chi2.sf(chi2, dof))


def test_sampled_pairs_fit_p_norm_chi_square():
    tr = planted_translation()
    syn = sample_synthetic(events_for(tr, 40_000), tr, SamplingConfig(k=3, seed=1))
    assert syn.num_rows == 4 * 40_000 * 3
    assert chi_square_pvalue(syn, tr) > 1e-3


def test_chi_square_rejects_a_biased_sampler():
    """The same test must fail on a deliberately biased sampler: draws from p^(1/0.9)."""
    tr = planted_translation()
    biased = sample_synthetic(events_for(tr, 40_000), tr, SamplingConfig(k=3, seed=1, temperature=0.9))
    assert chi_square_pvalue(biased, tr) < 1e-6
    # and an off-by-one sampler (every draw shifted to the next-ranked target)
    shifted = biased.to_pandas()
    rank = {(r["source_item"], r["target_item"]): r["target_rank"] for r in tr.to_pylist()}
    by_rank = {(r["source_item"], r["target_rank"]): r["target_item"] for r in tr.to_pylist()}
    size = tr.to_pandas().groupby("source_item").size().to_dict()
    shifted["target_item"] = [by_rank[(j, rank[(j, i)] % size[j] + 1)]
                              for j, i in zip(shifted.source_item, shifted.target_item)]
    assert chi_square_pvalue(pa.Table.from_pandas(shifted), tr) < 1e-6


def _random_groups(rng, n_groups, max_size):
    sizes = rng.integers(1, max_size, n_groups)
    indptr = np.r_[0, np.cumsum(sizes)].astype(np.int64)
    gid = np.repeat(np.arange(n_groups), sizes)
    return indptr, gid


@pytest.mark.parametrize("kind", ["uniform", "pareto", "ties", "peaked"])
def test_alias_tables_reproduce_q_exactly(kind):
    """Vectorized alias tables: for every group and cell, prob in [0, 1], the alias in the same group,
    and prob_k + sum of (1 - prob_c) over the cells c aliased to k equals s * q_k; also with
    temperature 0 (one-hot), top_p zeros and size-1 groups."""
    rng = np.random.default_rng(["uniform", "pareto", "ties", "peaked"].index(kind))
    indptr, gid = _random_groups(rng, 300, 80)
    n = indptr[-1]
    p = {"uniform": np.ones(n), "pareto": rng.pareto(0.7, n) + 1e-12,
         "ties": rng.integers(1, 4, n).astype(float), "peaked": rng.random(n) ** 12 + 1e-15}[kind]
    p = p[np.lexsort((-p, gid))]  # descending within group, as target_rank orders them
    for tau, top_p in [(1.0, 1.0), (0.0, 1.0), (0.5, 0.6), (2.0, 0.3), (1e-3, 1.0)]:
        q = tempered(p, indptr, tau, top_p)
        prob, alias = alias_tables(q, indptr)
        assert ((prob >= 0) & (prob <= 1)).all() and (gid[alias] == gid).all()
        mass = prob.copy()
        np.add.at(mass, alias, 1.0 - prob)
        np.testing.assert_allclose(mass / np.diff(indptr)[gid], q, rtol=0, atol=1e-11)
        assert (mass[q == 0] == 0).all()  # zero-probability targets can never be drawn


def test_chi_square_rejects_an_alias_sampler_that_ignores_the_aliases():
    """Draws that always accept the cell (prob forced to 1: uniform within the group) must fail."""
    tr = planted_translation()
    ev = events_for(tr, 40_000)
    import scalr.sampling as sampling
    real = sampling.alias_tables
    try:
        sampling.alias_tables = lambda q, indptr: (np.ones(len(q)), np.arange(len(q)))
        broken = sample_synthetic(ev, tr, SamplingConfig(k=3, seed=1))
    finally:
        sampling.alias_tables = real
    assert chi_square_pvalue(broken, tr) < 1e-6


def test_topk_is_exact_and_deterministic():
    tr = planted_translation()
    ev = events_for(tr, 5)
    syn = sample_synthetic(ev, tr, SamplingConfig(k=4, strategy="topk")).to_pandas()
    t = tr.to_pandas()
    for j, g in syn.groupby("source_item"):
        expect = t[t.source_item == j].sort_values("target_rank").target_item.head(4).tolist()
        per_event = g.groupby(np.arange(len(g)) // len(expect)).target_item.apply(list)
        assert all(lst == expect for lst in per_event), j
    assert syn.draw.max() == 3
    # a source item with 3 targets yields 3 rows per event, not 4
    assert (syn.source_item == "j0").sum() == 5 * 3


@pytest.mark.parametrize("tau", [0.0, 1e-3])
def test_temperature_to_zero_is_top1(tau):
    tr = planted_translation()
    syn = sample_synthetic(events_for(tr, 2000), tr, SamplingConfig(k=2, temperature=tau, seed=3)).to_pandas()
    t = tr.to_pandas()
    top1 = t.query("target_rank == 1").set_index("source_item")
    if tau == 0:  # exactly the rank-1 target (deterministic ties)
        assert (syn.target_item.to_numpy() == top1.target_item.reindex(syn.source_item).to_numpy()).all()
    # draws only land on the maximal p_norm (a tie at the top splits evenly as tau -> 0)
    np.testing.assert_allclose(syn.p.to_numpy(), top1.p_norm.reindex(syn.source_item).to_numpy())


def test_temperature_one_matches_p_norm_and_other_tau_matches_tempered():
    tr = planted_translation(seed=5)
    syn = sample_synthetic(events_for(tr, 30_000), tr, SamplingConfig(k=2, temperature=1.0, seed=4))
    assert chi_square_pvalue(syn, tr) > 1e-3
    t = tr.to_pandas()
    t["tempered"] = t.p_norm ** 2.0
    syn2 = sample_synthetic(events_for(tr, 30_000), tr, SamplingConfig(k=2, temperature=0.5, seed=4))
    assert chi_square_pvalue(syn2, pa.Table.from_pandas(t), "tempered") > 1e-3


@pytest.mark.parametrize("top_p", [0.3, 0.5, 0.9])
def test_top_p_keeps_smallest_prefix_with_the_mass(top_p):
    tr = planted_translation(seed=2)
    dist = encode_translation(tr)[0]
    csr = ChunkTables.build(*[dist[c].to_numpy() for c in dist.schema.names])
    q = tempered(csr.p, csr.indptr, 1.0, top_p)
    for g in range(len(csr.indptr) - 1):
        lo, hi = csr.indptr[g], csr.indptr[g + 1]
        p, qg = csr.p[lo:hi], q[lo:hi]
        kept = int((qg > 0).sum())
        assert p[:kept].sum() >= top_p - 1e-9  # enough mass
        assert kept == 1 or p[:kept - 1].sum() < top_p  # and the smallest such prefix
        np.testing.assert_allclose(qg[:kept], p[:kept] / p[:kept].sum())
    syn = sample_synthetic(events_for(tr, 20_000), tr, SamplingConfig(k=2, top_p=top_p, seed=9))
    t = tr.to_pandas()
    t["q"] = q[np.argsort(np.lexsort((t.target_rank, t.source_item)))]
    assert chi_square_pvalue(syn, pa.Table.from_pandas(t), "q") > 1e-3


def wide_world(seed=0, n_items=120, n_events=20_000):
    """Many source items (sizes 1..40, two domains), events with and without translation."""
    rng = np.random.default_rng(seed)
    rows = []
    for j in range(n_items):
        dom = "a" if j % 3 else "b"
        n = np.sort(rng.integers(1, 30, rng.integers(1, 40)))[::-1]
        for r, c in enumerate(n):
            rows.append((dom, f"j{j:03d}", f"t{rng.integers(0, 500):03d}_{r}", int(c), int(n.sum()) + 5,
                         c / (n.sum() + 5), c / n.sum(), r + 1))
    tr = pa.table(dict(zip(["source_domain", "source_item", "target_item", "n_users_ji", "n_users_j",
                            "p_hat", "p_norm", "target_rank"], map(list, zip(*rows)))))
    j = rng.integers(0, n_items + 15, n_events)  # items >= n_items have no translation
    ev = pa.table({
        "user_id": [f"u{x}" for x in rng.integers(0, 400, n_events)],
        "source_domain": ["a" if x % 3 else "b" for x in j],
        "source_item": [f"j{x:03d}" for x in j],
        "event_ts": pa.array(np.datetime64("2024-01-01T00:00:00", "us")
                             + rng.integers(0, 10**12, n_events).astype("timedelta64[us]")),
        "label": pa.array(rng.integers(0, 2, n_events).astype(np.int32)),
    })
    return tr, ev


SUB_EVENTS = 1000


def sub_covers_every_item(events: pa.Table, translation: pa.Table) -> bool:
    """The events hold every source item of the translation (and some without one)."""
    items, translated = set(events["source_item"].to_pylist()), set(translation["source_item"].to_pylist())
    return translated < items


@pytest.mark.parametrize("cfg", [
    SamplingConfig(k=3, seed=11),
    SamplingConfig(k=2, seed=5, temperature=0.5, top_p=0.7, confidence_weight="sqrt_p", user_weight_alpha=0.5),
    SamplingConfig(k=4, strategy="topk", min_confidence=0.05, confidence_weight="p"),
    SamplingConfig(k=3, seed=2, min_confidence=0.1),
])
def test_output_independent_of_chunk_and_batch_size(cfg):
    """Byte-identical output whatever the chunk of source items and the event batch: chunks of 1
    pair (one source item each), 50 pairs, all at once; batches of 1, 333 and all events. Batches
    of one event run on the first SUB_EVENTS events (every one still its own batch, every source
    item still hit; the whole world in 20,000 one-event batches cost ~20 s per config)."""
    tr, ev = wide_world()
    whole = sample_synthetic(ev, tr, cfg)
    assert whole.num_rows > 0 and whole.schema == OUTPUT_SCHEMA
    for chunk, batch in [(1, 333), (10**9, 4096)]:
        assert whole.equals(sample_synthetic(ev, tr, cfg, chunk_pairs=chunk, batch_events=batch)), (chunk, batch)
    sub = ev.slice(0, SUB_EVENTS)
    assert sub_covers_every_item(sub, tr)
    assert sample_synthetic(sub, tr, cfg).equals(sample_synthetic(sub, tr, cfg, chunk_pairs=50, batch_events=1))
    # rows in (source item, user, time, label, draw) order, no row for items without translation
    df = whole.to_pandas()
    keys = list(zip(df.source_domain, df.source_item, df.user_id, df.event_ts, df.label, df.draw))
    assert keys == sorted(keys)
    assert set(df.source_item) <= set(tr["source_item"].to_pylist())


def test_streaming_batches_are_dictionary_encoded_and_seed_changes_output():
    tr = planted_translation()
    ev = events_for(tr, 3000, extra_unknown=100)
    cfg = SamplingConfig(k=3, seed=11)
    whole = sample_synthetic(ev, tr, cfg)
    batches = list(sample_stream(ev, tr, cfg, chunk_pairs=10, batch_events=777))
    assert all(b.schema == STREAM_SCHEMA for b in batches)  # text columns dictionary-encoded
    assert whole.equals(pa.Table.from_batches(batches).cast(OUTPUT_SCHEMA))
    assert not whole.equals(sample_synthetic(ev, tr, SamplingConfig(k=3, seed=12)))
    assert "unknown" not in set(whole["source_item"].to_pylist())  # no translation -> no draws
    assert whole.num_rows == 4 * 3000 * 3


def test_integer_keyed_streams_as_dbt_feeds_them():
    """sample_sorted on the integer-keyed streams (sparse source keys, target keys mapped through
    TargetCodes, non-dense) gives the rows of the text path; unsorted input is refused."""
    tr, ev = wide_world(seed=3)
    cfg = SamplingConfig(k=3, seed=7)
    dist, sources, tdict, key_text = encode_translation(tr)
    events = encode_events(ev, key_text)
    # sparse keys as int_items assigns them (other items in between), targets keyed 1000 + 3 * code
    src_key = dist["source_key"].to_numpy() * 7 + 100
    tkeys = 1000 + 3 * np.arange(len(tdict))
    codes = TargetCodes(tkeys, tdict)
    assert not codes.dense
    keyed = pa.table({"source_key": src_key, "target_key": tkeys[dist["target_code"].to_numpy()],
                      "p_norm": dist["p_norm"], "p_hat": dist["p_hat"], "n_users_ji": dist["n_users_ji"]})
    ev_keyed = events.set_column(0, "source_key", pa.array(events["source_key"].to_numpy() * 7 + 100))
    src = SourceItems(sources.keys * 7 + 100, sources.domain, sources.item)
    out = pa.Table.from_batches(list(sample_sorted(codes.batches(keyed.to_batches(max_chunksize=100)),
                                                   ev_keyed.to_batches(max_chunksize=500), cfg,
                                                   codes.dictionary, src, chunk_pairs=64)),
                                schema=STREAM_SCHEMA).cast(OUTPUT_SCHEMA)
    assert out.equals(sample_synthetic(ev, tr, cfg))
    shuffled = ev_keyed.take(np.random.default_rng(0).permutation(ev_keyed.num_rows))
    with pytest.raises(ValueError, match="not sorted"):
        list(sample_sorted(codes.batches(keyed.to_batches()), shuffled.to_batches(), cfg, codes.dictionary, src))
    with pytest.raises(ValueError, match="not sorted"):
        bad = keyed.take(np.random.default_rng(0).permutation(keyed.num_rows))
        list(sample_sorted(codes.batches(bad.to_batches()), ev_keyed.to_batches(), cfg, codes.dictionary, src,
                           chunk_pairs=10))


def test_draw_records_match_the_alias_tables():
    """The 64-byte draw records hold, for every cell, its threshold and its own and its alias's
    output fields."""
    tr, _ = wide_world(seed=4)
    dist = encode_translation(tr)[0]
    t = ChunkTables.build(*[dist[c].to_numpy() for c in dist.schema.names])
    from scalr.sampling import _HALF
    half = t.cells.view(_HALF)
    own, other = half[0::2], half[1::2]
    assert t.cells.ctypes.data % 64 == 0
    np.testing.assert_array_equal(own["prob"], t.prob)
    for f, col in [("p", t.p), ("p_hat", t.p_hat), ("n_users_ji", t.n_users_ji), ("target_code", t.target_code)]:
        np.testing.assert_array_equal(own[f], col)
        np.testing.assert_array_equal(other[f], col[t.alias])


def test_confidence_weights_user_weights_and_min_confidence():
    tr = planted_translation()
    ev = events_for(tr, 50)
    base = sample_synthetic(ev, tr, SamplingConfig(k=2, seed=1)).to_pandas()
    assert (base.weight == 1.0).all()
    pw = sample_synthetic(ev, tr, SamplingConfig(k=2, seed=1, confidence_weight="p")).to_pandas()
    np.testing.assert_allclose(pw.weight, pw.p)
    sq = sample_synthetic(ev, tr, SamplingConfig(k=2, seed=1, confidence_weight="sqrt_p")).to_pandas()
    np.testing.assert_allclose(sq.weight, np.sqrt(sq.p))
    uw = sample_synthetic(ev, tr, SamplingConfig(k=2, seed=1, user_weight_alpha=0.5)).to_pandas()
    n_u = ev.to_pandas().user_id.value_counts()  # over all the events (as int_source_events counts)
    np.testing.assert_allclose(uw.weight, 1.0 / np.sqrt(n_u.reindex(uw.user_id).to_numpy()))
    mc = sample_synthetic(ev, tr, SamplingConfig(k=2, seed=1, min_confidence=0.3)).to_pandas()
    assert len(mc) > 0 and (mc.p_hat >= 0.3).all()
    assert len(mc) == int((base.p_hat >= 0.3).sum())  # same draws, filtered


def test_confidence_weight_times_user_weight():
    """confidence_weight='p' with user_weight_alpha=0.5: weight = p * n_u^-0.5, row by row."""
    tr = planted_translation()
    ev = events_for(tr, 50)
    out = sample_synthetic(ev, tr, SamplingConfig(k=2, seed=1, confidence_weight="p",
                                                  user_weight_alpha=0.5)).to_pandas()
    n_u = ev.to_pandas().user_id.value_counts().reindex(out.user_id).to_numpy()
    assert len(out) == 4 * 50 * 2 and n_u.min() < n_u.max()  # users of different volumes
    np.testing.assert_allclose(out.weight, out.p * n_u ** -0.5, rtol=1e-12)


def _exact_p_hat_translation() -> pa.Table:
    """One source item, three targets with exactly representable p_hat 0.5, 0.25, 0.125."""
    return pa.table({"source_domain": ["src"] * 3, "source_item": ["j0"] * 3,
                     "target_item": ["a", "b", "c"], "n_users_ji": [4, 2, 1], "n_users_j": [8] * 3,
                     "p_hat": [0.5, 0.25, 0.125], "p_norm": [4 / 7, 2 / 7, 1 / 7], "target_rank": [1, 2, 3]})


@pytest.mark.parametrize("strategy", ["sample", "topk"])
def test_min_confidence_keeps_p_hat_equal_to_the_threshold(strategy):
    """min_confidence drops draws with p_hat strictly below it: p_hat == 0.25 survives 0.25."""
    tr = _exact_p_hat_translation()
    ev = events_for(tr, 200)
    cfg = dict(k=3, seed=1, strategy=strategy)
    base = sample_synthetic(ev, tr, SamplingConfig(**cfg)).to_pandas()
    mc = sample_synthetic(ev, tr, SamplingConfig(**cfg, min_confidence=0.25)).to_pandas()
    n_at = int((base.p_hat == 0.25).sum())
    assert n_at > 0 and int((mc.p_hat == 0.25).sum()) == n_at  # every draw at the threshold kept
    assert len(mc) == int((base.p_hat >= 0.25).sum()) and (mc.p_hat >= 0.25).all()
    if strategy == "topk":  # targets a and b for each of the 200 events
        assert n_at == 200 and len(mc) == 2 * 200


def test_user_weight_counts_untranslated_source_events():
    """user_weight_alpha=1 (in-memory path, no n_user_events column): weight = 1 / n_u with n_u
    over ALL the user's source events, those without translation included (as int_source_events)."""
    tr = planted_translation()
    ev = events_for(tr, 50, extra_unknown=300)
    out = sample_synthetic(ev, tr, SamplingConfig(k=2, seed=1, user_weight_alpha=1.0)).to_pandas()
    df = ev.to_pandas()
    n_all = df.user_id.value_counts().reindex(out.user_id).to_numpy()
    n_tr = df[df.source_item != "unknown"].user_id.value_counts().reindex(out.user_id).to_numpy()
    assert len(out) == 4 * 50 * 2 and (n_all > n_tr).any()  # untranslated events do change n_u
    np.testing.assert_allclose(out.weight, 1.0 / n_all, rtol=1e-12)


# ------------------------------------------------------------------------------ leave-self-out

def _loo_translation(sizes_counts: dict[str, list[int]]) -> pa.Table:
    """Translation with the given n_users_ji per source item (rows in descending count order)."""
    rows = []
    for j, counts in sizes_counts.items():
        n = np.array(sorted(counts, reverse=True))
        for r, c in enumerate(n):
            rows.append(("src", j, f"{j}_t{r:02d}", int(c), int(n.max() + 3), c / (n.max() + 3), c / n.sum(), r + 1))
    return pa.table(dict(zip(["source_domain", "source_item", "target_item", "n_users_ji", "n_users_j",
                              "p_hat", "p_norm", "target_rank"], map(list, zip(*rows)))))


def _events(users_items: list[tuple[str, str, int]], n_each: int) -> pa.Table:
    """n_each events per (user, source item, label)."""
    u, j, lab = zip(*[x for x in users_items for _ in range(n_each)])
    n = len(u)
    return pa.table({"user_id": list(u), "source_domain": ["src"] * n, "source_item": list(j),
                     "event_ts": pa.array(np.datetime64("2024-05-01", "us") + np.arange(n).astype("timedelta64[s]")),
                     "label": pa.array(np.array(lab, np.int32))})


def _user_items(rows: list[tuple[str, str, str]]) -> pa.Table:
    """(user_id, role, item_id) -> int_user_items' text columns (source domain 'src', target 'tgt')."""
    return pa.table({"user_id": [r[0] for r in rows], "domain": ["src" if r[1] == "source" else "tgt" for r in rows],
                     "domain_role": [r[1] for r in rows], "item_id": [r[2] for r in rows]})


def _pvalue(counts: np.ndarray, expected_p: np.ndarray) -> float:
    keep = expected_p > 0
    assert counts[~keep].sum() == 0, "draws on zero-probability targets"
    e = counts.sum() * expected_p[keep] / expected_p[keep].sum()
    return float(stats.chisquare(counts[keep], e).pvalue)


@pytest.mark.parametrize("cfg", [SamplingConfig(k=4, seed=3, leave_self_out=True),
                                 SamplingConfig(k=4, seed=3, temperature=0.7, top_p=0.95, leave_self_out=True)])
def test_leave_self_out_fits_p_loo_and_rejects_p_norm(cfg):
    """u0 holds j and 5 of j's 12 targets (counts 1, 1, 2, 3 and 6: 40 % of the mass): 240k draws
    for (u0, j) fit q_i (n_ji - o_ui) / n_ji renormalised (q the configured distribution), and the
    same draws reject plain q (the control). The exact leftover draw is exercised (cells rejected
    LOO_ROUNDS times), none dropped. u1 also holds j's targets but not j (its event has label 0 and
    no int_user_items source row): o = 0, its draws fit plain q."""
    counts = [6, 5, 4, 4, 3, 3, 2, 2, 2, 1, 1, 1]
    tr = _loo_translation({"j": counts})
    targets = [f"j_t{r:02d}" for r in range(12)]
    own_idx = [0, 4, 6, 9, 10]  # counts 6, 3, 2, 1, 1
    ui = _user_items([("u0", "source", "j")] + [("u0", "target", targets[i]) for i in own_idx]
                     + [("u1", "target", targets[i]) for i in range(12)] + [("u1", "source", "other")])
    ev = _events([("u0", "j", 1), ("u1", "j", 0)], 60_000)
    st = LooStats()
    out = sample_synthetic(ev, tr, cfg, user_items=ui, stats=st, batch_events=25_000).to_pandas()
    q = tempered(np.array(counts, float) / sum(counts), np.array([0, 12]), cfg.temperature, cfg.top_p)
    n = np.array(counts, float)
    o = np.isin(np.arange(12), own_idx)
    p_loo = q * (n - o) / n
    for user, expected, control in [("u0", p_loo, q), ("u1", q, p_loo)]:
        got = out[out.user_id == user].target_item.value_counts().reindex(targets, fill_value=0).to_numpy()
        assert got.sum() == 60_000 * 4
        assert _pvalue(got, expected) > 0.01, user
        if expected is p_loo:
            assert _pvalue(got, control) < 1e-12  # the control: plain q must be rejected
    assert st.exact > 0 and st.dropped == 0 and st.own_first > 0


def test_leave_self_out_drops_draws_with_only_own_mass_and_never_draws_self_only_pairs():
    """Pairs whose only support is u (n = 1, o = 1) are never drawn for u; a source item whose whole
    mass is u's own yields no row for u (the draws are counted as dropped); other users are
    unaffected."""
    tr = _loo_translation({"a": [1, 1, 1], "b": [1, 2, 1, 3]})
    ui = _user_items([("u0", "source", "a"), ("u0", "source", "b"), ("u0", "target", "a_t00"),
                      ("u0", "target", "a_t01"), ("u0", "target", "a_t02"), ("u0", "target", "b_t02"),
                      ("u0", "target", "b_t03")])
    ev = _events([("u0", "a", 1), ("u0", "b", 1), ("u1", "a", 1)], 500)
    for strategy in ("sample", "topk"):
        st = LooStats()
        out = sample_synthetic(ev, tr, SamplingConfig(k=2, seed=1, strategy=strategy, leave_self_out=True),
                               user_items=ui, stats=st).to_pandas()
        u0 = out[out.user_id == "u0"]
        assert not (u0.source_item == "a").any()
        assert not u0.target_item.isin(["b_t02", "b_t03"]).any()  # counts 1 and 1, both u0's own
        assert (u0.source_item == "b").sum() == 500 * 2
        assert (out.user_id == "u1").sum() == 500 * 2
        if strategy == "sample":
            assert st.dropped == 500 * 2


def _loo_world(seed=0):
    tr, ev = wide_world(seed=seed)
    rng = np.random.default_rng(seed + 1)
    users = sorted(set(ev["user_id"].to_pylist()))
    src = sorted(set(tr["source_item"].to_pylist()))
    tg = sorted(set(tr["target_item"].to_pylist()))
    rows = []
    top = tr.filter(pc.less_equal(tr["target_rank"], 2)).to_pandas().groupby("source_item").target_item.apply(list)
    for u in users:  # u holds 50 of the 135 source items, 30 random target items and, for half
        held = rng.choice(src, 50, replace=False)  # the held source items, their top-2 targets
        rows += [(u, "source", j) for j in held]
        tgt = set(rng.choice(tg, 30, replace=False)) | {i for j in held[:25] for i in top[j]}
        rows += [(u, "target", i) for i in sorted(tgt)]
    ui = pa.table({"user_id": [r[0] for r in rows],
                   "domain": [("a" if int(r[2][1:]) % 3 else "b") if r[1] == "source" else "t" for r in rows],
                   "domain_role": [r[1] for r in rows], "item_id": [r[2] for r in rows]})
    return tr, ev, ui


@pytest.mark.parametrize("cfg", [SamplingConfig(k=3, seed=11, leave_self_out=True),
                                 SamplingConfig(k=4, strategy="topk", min_confidence=0.05, leave_self_out=True),
                                 SamplingConfig(k=2, seed=5, temperature=0.5, top_p=0.7, min_confidence=0.02,
                                                leave_self_out=True)])
def test_leave_self_out_is_deterministic_and_independent_of_chunks(cfg):
    """Same seed, same rows, whatever the chunk / batch sizes; a different seed differs; with
    leave_self_out false the rows are exactly today's (user_items ignored), and every row whose
    first draw was not the user's own pair is the same as without it."""
    tr, ev, ui = _loo_world()
    whole = sample_synthetic(ev, tr, cfg, user_items=ui)
    assert whole.num_rows > 0 and whole.schema == OUTPUT_SCHEMA
    for chunk, batch in [(1, 333), (10**9, 4096)]:
        assert whole.equals(sample_synthetic(ev, tr, cfg, chunk_pairs=chunk, batch_events=batch, user_items=ui))
    sub = ev.slice(0, SUB_EVENTS)  # one-event batches on a prefix, as in test_output_independent_of_chunk...
    assert sub_covers_every_item(sub, tr)
    assert sample_synthetic(sub, tr, cfg, user_items=ui).equals(
        sample_synthetic(sub, tr, cfg, chunk_pairs=50, batch_events=1, user_items=ui))
    off = dataclasses.replace(cfg, leave_self_out=False)
    plain = sample_synthetic(ev, tr, off)
    assert plain.equals(sample_synthetic(ev, tr, off, user_items=ui))
    assert not plain.equals(whole)
    if cfg.strategy == "sample":
        assert not whole.equals(sample_synthetic(ev, tr, dataclasses.replace(cfg, seed=cfg.seed + 1), user_items=ui))
        key = ["user_id", "source_item", "event_ts", "label", "draw"]
        both = plain.to_pandas().merge(whole.to_pandas(), on=key, suffixes=("", "_loo"))
        held = set(zip(ui["user_id"].to_pylist(), ui["item_id"].to_pylist()))
        own = np.array([(u, j) in held and (u, i) in held for u, j, i in
                        zip(both.user_id, both.source_item, both.target_item)])
        assert (both.target_item == both.target_item_loo)[~own].all()
        assert own.any() and (both.target_item != both.target_item_loo)[own].any()


def test_leave_self_out_topk_is_the_top_k_of_the_leftover():
    """topk with leave_self_out: per event the K highest p (n - o) / n, ties by target_rank (weights
    on a 2^-40 grid: p (n - 1) / n ties p' = p (n - 1) / n), zero weights left out, checked against a brute force over every event."""
    tr, ev, ui = _loo_world(seed=2)
    k = 4
    out = sample_synthetic(ev, tr, SamplingConfig(k=k, strategy="topk", leave_self_out=True), user_items=ui).to_pandas()
    held = set(zip(ui["user_id"].to_pylist(), ui["item_id"].to_pylist()))
    t = tr.to_pandas()
    # per source item its rows in target_rank order, as plain lists / arrays (read once, not per event)
    groups = {j: (g.target_item.tolist(), g.n_users_ji.to_numpy(), g.p_norm.to_numpy())
              for j, g in t.sort_values("target_rank").groupby("source_item")}
    got = out.groupby(["user_id", "source_item", "event_ts", "label"]).target_item.apply(list).to_dict()
    n_checked = 0
    for u, j, ts, lab in zip(*[ev[c].to_pylist() for c in ["user_id", "source_item", "event_ts", "label"]]):
        if j not in groups:
            continue
        items, n, p = groups[j]
        o = np.array([(u, j) in held and (u, i) in held for i in items])
        w = np.rint(p * ((n - o) / n) * 2.0 ** 40)  # exact ties stay ties
        order = sorted(range(len(w)), key=lambda r: (-w[r], r))
        want = [items[r] for r in order if w[r] > 0][:k]
        assert got.get((u, j, pd.Timestamp(ts), lab), []) == want
        n_checked += 1
    assert n_checked > 10_000


def test_leave_self_out_redraws_are_seeded():
    """The leave-self-out rejection and redraw uniforms come from synthetic_seed: j has two targets,
    i0 (u0's own pair, n_ji = 2, 99 % of p_norm) and i1, so nearly every first draw is i0, kept with
    probability 1/2. Under two seeds the final draws are independent: P(i1) = p_loo(i1) under each,
    P(i1 under both) = p_loo(i1)^2 (binomial test); redraws that ignore the seed give i1 together."""
    tr = pa.table({"source_domain": ["src"] * 2, "source_item": ["j"] * 2, "target_item": ["i0", "i1"],
                   "n_users_ji": [2, 1], "n_users_j": [3, 3], "p_hat": [2 / 3, 1 / 3],
                   "p_norm": [0.99, 0.01], "target_rank": [1, 2]})
    n = 20_000
    ev = pa.table({"user_id": ["u0"] * n, "source_domain": ["src"] * n, "source_item": ["j"] * n,
                   "event_ts": pa.array(np.datetime64("2024-05-01", "us") + np.arange(n).astype("timedelta64[s]")),
                   "label": pa.array(np.ones(n, np.int32))})
    ui = pa.table({"user_id": ["u0", "u0"], "domain": ["src", "tgt"], "domain_role": ["source", "target"],
                   "item_id": ["j", "i0"]})
    i1 = {s: sample_synthetic(ev, tr, SamplingConfig(k=1, seed=s, leave_self_out=True), user_items=ui)
          ["target_item"].to_numpy() == "i1" for s in (1, 2)}
    p1 = 0.01 / (0.99 * 0.5 + 0.01)  # p_loo(i1): i0 keeps (n_ji - 1) / n_ji of its weight
    for s in (1, 2):
        assert stats.binomtest(int(i1[s].sum()), n, p1).pvalue > 1e-3
    assert stats.binomtest(int((i1[1] & i1[2]).sum()), n, p1 * p1).pvalue > 1e-3

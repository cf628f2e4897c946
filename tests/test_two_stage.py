"""The two-stage sampler (synthetic_sampler two_stage, scalr.two_stage): goodness of fit against
p_norm on random worlds (and a control the draws must fail), leave-self-out against the P_hat
path's definition, the shrinkage mixture, the drawn pairs' counts, no draw outside the support,
determinism whatever the thread count, and through dbt: the fit against translation.p_norm, the
build without int_cooccurrence, the config conflict error."""
from __future__ import annotations

import duckdb
import numpy as np
import pyarrow as pa
import pytest
from scipy import stats

from scalr.sampling import OUTPUT_SCHEMA, _loo_factor
from scalr.two_stage import TwoStageConfig, check_config, two_stage_sql, two_stage_stream

ALPHA = 1e-3  # a correct sampler fails a test with this probability (fixed seeds: never, in practice)


def random_world(seed: int, n_users: int = 60, n_src: int = 12, n_tgt: int = 15) -> dict[str, pa.Table]:
    """int_user_items / int_overlap_users / int_items / int_source_events of a random world: users
    hold random source and target items (some hold only one side), events repeat held items and
    add events on items no overlap user holds (no draws) and by users who do not hold the item."""
    rng = np.random.default_rng(seed)
    rows = []  # (user_key, user_id, domain, role, item_id)
    for u in range(n_users):
        ns = rng.integers(0 if u % 7 == 0 else 1, 5)
        nt = rng.integers(0 if u % 5 == 0 else 1, 6)
        pop_s = rng.dirichlet(np.ones(n_src) * 0.5)
        for j in rng.choice(n_src, size=min(ns, n_src), replace=False, p=pop_s):
            rows.append((u, f"u{u:03d}", "src", "source", f"s{j:02d}"))
        for i in rng.choice(n_tgt, size=min(nt, n_tgt), replace=False):
            rows.append((u, f"u{u:03d}", "tgt", "target", f"t{i:02d}"))
    items = sorted({(d, r, i) for _, _, d, r, i in rows})
    ikey = {(d, i): k + 1 for k, (d, r, i) in enumerate(items)}
    ui = pa.table({
        "user_key": [r[0] + 1 for r in rows], "user_id": [r[1] for r in rows], "domain": [r[2] for r in rows],
        "domain_role": [r[3] for r in rows], "item_key": [ikey[(r[2], r[4])] for r in rows],
        "item_id": [r[4] for r in rows]})
    n_users_item = {}
    for r in rows:
        n_users_item[(r[2], r[4])] = n_users_item.get((r[2], r[4]), 0) + 1
    it = pa.table({"item_key": [ikey[(d, i)] for d, r, i in items], "domain": [d for d, r, i in items],
                   "domain_role": [r for d, r, i in items], "item_id": [i for d, r, i in items],
                   "n_users": [n_users_item[(d, i)] for d, r, i in items]})
    src = {}
    tgt = {}
    for u, _, d, r, i in rows:
        (src if r == "source" else tgt).setdefault(u, []).append(i)
    ov = [u for u in range(n_users) if u in src and u in tgt]
    overlap = pa.table({"user_key": [u + 1 for u in ov], "user_id": [f"u{u:03d}" for u in ov],
                        "n_source_items": [len(src[u]) for u in ov], "n_target_items": [len(tgt[u]) for u in ov]})
    ev = []
    for u, items_u in src.items():
        for j in items_u:
            for t in range(rng.integers(1, 3)):
                ev.append((f"u{u:03d}", j, t))
    for t in range(20):  # events on items the user does not hold (and a source item nobody holds)
        ev.append((f"u{rng.integers(n_users):03d}", f"s{rng.integers(n_src + 1):02d}", 100 + t))
    base = np.datetime64("2024-01-01T00:00:00")
    cnt = {}
    for e in ev:
        cnt[e[0]] = cnt.get(e[0], 0) + 1
    se = pa.table({"user_id": [e[0] for e in ev], "source_domain": ["src"] * len(ev),
                   "source_item": [e[1] for e in ev],
                   "event_ts": pa.array(np.array([base + np.timedelta64(int(e[2]), "h") for e in ev], "datetime64[us]")),
                   "label": pa.array([1] * len(ev), pa.int32()), "n_user_events": [cnt[e[0]] for e in ev]})
    return {"user_items": ui, "overlap": overlap, "items": it, "source_events": se}


IMPLS = ("sql", "stream")  # two_stage_sql (one DuckDB query) and two_stage_stream (numpy)


def draw(world: dict, cfg: TwoStageConfig, threads: int = 2, impl: str = "sql", batch_rows: int = 1000) -> pa.Table:
    con = duckdb.connect()
    con.execute(f"set threads = {threads}")
    for name, t in world.items():  # tables, not registered views: the events cursor must see them
        con.execute(f"create table w_{name} as select * from t")
    inputs = ("select * from w_source_events", "select * from w_user_items", "select * from w_overlap",
              "select * from w_items")

    def arrow(q):
        t = con.sql(q).arrow()
        return t.read_all() if hasattr(t, "read_all") else t
    if impl == "stream":
        cursor = con.cursor()  # two_stage_stream runs ``stream`` in a thread beside ``arrow``
        reader = two_stage_stream(arrow, *inputs, cfg, stream=lambda q: cursor.sql(q).to_arrow_reader(batch_rows))
        return pa.Table.from_batches(list(reader), schema=reader.schema).cast(OUTPUT_SCHEMA)
    return arrow(two_stage_sql(*inputs, cfg))


def oracle(world: dict) -> tuple[dict, dict, dict, dict]:
    """(n_ji counts {(j, i): n}, holders {j: set of overlap users}, targets {u: set}, pop_share {i})."""
    ui = world["user_items"].to_pylist()
    ov = set(world["overlap"]["user_id"].to_pylist())
    src, tgt = {}, {}
    for r in ui:
        if r["user_id"] in ov:
            (src if r["domain_role"] == "source" else tgt).setdefault(r["user_id"], set()).add(r["item_id"])
    n, holders = {}, {}
    for u, js in src.items():
        for j in js:
            holders.setdefault(j, set()).add(u)
            for i in tgt[u]:
                n[(j, i)] = n.get((j, i), 0) + 1
    it = world["items"].to_pylist()
    tot = sum(r["n_users"] for r in it if r["domain_role"] == "target")
    pop = {r["item_id"]: r["n_users"] / tot for r in it if r["domain_role"] == "target"}
    return n, holders, tgt, pop


def expected_dist(world: dict, user: str, j: str, loo: bool, beta: float = 0.0) -> dict[str, float]:
    """The distribution the draws of event (user, j) must follow. Without shrinkage, by the P_hat
    path's leave-self-out definition (scalr.sampling): p_norm_i * (n_ji - o_ui) / n_ji renormalised,
    o_ui = 1 iff the user holds j (an overlap user of j) and i; with beta the mixture
    (n'_ji + beta pop_i) / (N'_j + beta) over all target items."""
    n, holders, tgt, pop = oracle(world)
    own = loo and user in holders.get(j, set())
    cells = {i: c for (jj, i), c in n.items() if jj == j}
    if not cells and beta == 0:
        return {}
    tot = sum(cells.values())
    keys = sorted(cells)
    p_norm = np.array([cells[i] / tot for i in keys])
    o = np.array([own and i in tgt[user] for i in keys])
    w = p_norm * _loo_factor(np.array([cells[i] for i in keys]), o)  # the P_hat path's formula
    if beta == 0:
        return {i: x / w.sum() for i, x in zip(keys, w) if x > 0} if w.sum() > 0 else {}
    n_left = tot - (len(tgt[user]) if own else 0)
    out = {i: beta * s / (n_left + beta) for i, s in pop.items()}
    for i, x in zip(keys, w):  # w / w.sum() * n_left = n'_ji
        if w.sum() > 0:
            out[i] += x / w.sum() * n_left / (n_left + beta)
    return out


def chi2_pvalue(draws: pa.Table, world: dict, loo: bool, beta: float = 0.0, wrong: bool = False) -> float:
    """Pooled chi-square of the draws grouped by event (user, j) against expected_dist (cells
    expecting < 5 pooled per event; a draw on a zero-probability cell fails outright). ``wrong``:
    against the uniform distribution over the same support (a control the test must reject)."""
    obs: dict = {}
    for u, j, i in zip(*(draws[c].to_pylist() for c in ("user_id", "source_item", "target_item"))):
        obs.setdefault((u, j), {}).setdefault(i, 0)
        obs[(u, j)][i] += 1
    chi2, dof = 0.0, 0
    for (u, j), cnt in obs.items():
        p = expected_dist(world, u, j, loo, beta)
        if wrong:
            p = {i: 1 / len(p) for i in p}
        if any(i not in p for i in cnt):
            return 0.0
        m = sum(cnt.values())
        e = np.array([p[i] * m for i in sorted(p)])
        o = np.array([cnt.get(i, 0) for i in sorted(p)])
        big = e >= 5
        oo, ee = list(o[big]), list(e[big])
        if e[~big].sum() >= 5:
            oo.append(o[~big].sum())
            ee.append(e[~big].sum())
        if len(ee) > 1:
            oo, ee = np.array(oo), np.array(ee)
            chi2 += float(((oo - ee) ** 2 / ee).sum())
            dof += len(ee) - 1
    assert dof > 20, dof
    return float(stats.chi2.sf(chi2, dof))


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_fits_p_norm_on_random_worlds(seed, impl):
    """Without leave-self-out every event of j draws from p_norm(.|j) = n_ji / sum n_ji; the same
    draws against uniform-over-support (a wrong p_norm) are rejected."""
    world = random_world(seed)
    d = draw(world, TwoStageConfig(k=200, seed=seed, leave_self_out=False), impl=impl)
    assert chi2_pvalue(d, world, loo=False) > ALPHA
    assert chi2_pvalue(d, world, loo=False, wrong=True) < ALPHA


@pytest.mark.parametrize("impl", IMPLS)
def test_leave_self_out_matches_the_p_hat_paths_definition(impl):
    """With leave-self-out the draws of (u, j) follow p_norm_i (n_ji - o_ui) / n_ji renormalised
    (scalr.sampling's definition), and events whose j holds only u's own mass draw nothing."""
    world = random_world(5)
    d = draw(world, TwoStageConfig(k=300, seed=9, leave_self_out=True), impl=impl)
    assert chi2_pvalue(d, world, loo=True) > ALPHA
    assert chi2_pvalue(d, world, loo=False) < ALPHA  # not the plain p_norm: own pairs are left out
    n, holders, tgt, _ = oracle(world)
    drawn = set(zip(d["user_id"].to_pylist(), d["source_item"].to_pylist()))
    for e in world["source_events"].to_pylist():
        u, j = e["user_id"], e["source_item"]
        assert ((u, j) in drawn) == bool(expected_dist(world, u, j, loo=True)), (u, j)


@pytest.mark.parametrize("impl", IMPLS)
def test_no_draw_outside_the_support(impl):
    world = random_world(7)
    n, *_ = oracle(world)
    for loo in (False, True):
        d = draw(world, TwoStageConfig(k=50, seed=1, leave_self_out=loo), impl=impl)
        pairs = set(zip(d["source_item"].to_pylist(), d["target_item"].to_pylist()))
        assert pairs and pairs <= set(n)
        assert set(d["draw"].to_pylist()) == set(range(50))


@pytest.mark.parametrize("impl", IMPLS)
def test_shrinkage_is_a_mixture_with_popularity(impl):
    world = random_world(11)
    d = draw(world, TwoStageConfig(k=300, seed=4, leave_self_out=True, shrinkage=3.0), impl=impl)
    assert chi2_pvalue(d, world, loo=True, beta=3.0) > ALPHA
    assert chi2_pvalue(d, world, loo=True, beta=0.0) == 0.0  # draws outside j's support exist


def test_drawn_pairs_counts_when_the_weight_needs_p():
    world = random_world(13)
    n, holders, _, _ = oracle(world)
    d = draw(world, TwoStageConfig(k=5, seed=2, confidence_weight="sqrt_p"))
    tot = {j: sum(c for (jj, _), c in n.items() if jj == j) for j in holders}
    for r in d.to_pylist():
        j, i = r["source_item"], r["target_item"]
        assert r["n_users_ji"] == n[(j, i)]
        assert r["p_hat"] == pytest.approx(n[(j, i)] / len(holders[j]))
        assert r["p"] == pytest.approx(n[(j, i)] / tot[j])
        assert r["weight"] == pytest.approx(np.sqrt(n[(j, i)] / tot[j]))
    plain = draw(world, TwoStageConfig(k=5, seed=2))
    assert plain["p"].null_count == plain.num_rows and set(plain["weight"].to_pylist()) == {1.0}
    assert plain["target_item"] == d["target_item"]  # the weight does not change the draws


def test_byte_identical_whatever_the_thread_count():
    world = random_world(17, n_users=200)
    cfg = TwoStageConfig(k=7, seed=3, shrinkage=1.0)
    a, b = draw(world, cfg, threads=1), draw(world, cfg, threads=4)
    assert a.equals(b) and a.num_rows > 1000
    c = draw(world, TwoStageConfig(k=7, seed=4, shrinkage=1.0), threads=4)
    assert not a["target_item"].equals(c["target_item"])


def test_stream_byte_identical_whatever_the_batch_size_and_thread_count():
    """two_stage_stream: the rows are a function of the inputs and the seed (batch size 1, 37,
    10^6 events; 1 or 4 DuckDB threads), the seed changes them, and the user weight follows
    n_user_events^-alpha."""
    world = random_world(17, n_users=200)
    cfg = TwoStageConfig(k=7, seed=3, shrinkage=1.0, user_weight_alpha=0.5)
    a = draw(world, cfg, threads=1, impl="stream", batch_rows=1)
    for threads, rows in ((4, 37), (2, 10**6)):
        assert a.equals(draw(world, cfg, threads=threads, impl="stream", batch_rows=rows))
    assert a.num_rows > 1000
    c = draw(world, TwoStageConfig(k=7, seed=4, shrinkage=1.0, user_weight_alpha=0.5), impl="stream")
    assert not a["target_item"].equals(c["target_item"])
    n_ev = dict(zip(world["source_events"]["user_id"].to_pylist(), world["source_events"]["n_user_events"].to_pylist()))
    assert a["weight"].to_pylist() == pytest.approx([n_ev[u] ** -0.5 for u in a["user_id"].to_pylist()])
    assert a["p"].null_count == a.num_rows
    order = [(c, "ascending") for c in ("source_item", "user_id", "event_ts", "label", "draw")]
    assert a.equals(a.sort_by(order))  # event order, draw last (the source items' keys sort like their ids)


def test_count_knobs_conflict_with_two_stage():
    ok = {"min_support": "1", "max_targets_per_source": "None", "count_noise_epsilon": None,
          "synthetic_strategy": "sample", "synthetic_temperature": "1.0", "synthetic_top_p": "1",
          "min_confidence": "0"}
    check_config("two_stage", ok)
    for name, bad in [("min_support", "2"), ("max_targets_per_source", "5"), ("count_noise_epsilon", "1.0"),
                      ("synthetic_strategy", "topk"), ("synthetic_temperature", "0.5"),
                      ("synthetic_top_p", "0.9"), ("min_confidence", "0.1")]:
        check_config("p_hat", {**ok, name: bad})
        with pytest.raises(ValueError, match=f"synthetic_events: .*{name}="):
            check_config("two_stage", {**ok, name: bad})
    with pytest.raises(ValueError, match="synthetic_sampler must be"):
        check_config("alias", ok)


# ------------------------------------------------------------------------------ through dbt

@pytest.fixture(scope="module")
def tiny_world(tmp_path_factory):
    from scalr import demo_world
    d = tmp_path_factory.mktemp("ts_world")
    spec = demo_world.WorldSpec(n_users=600, n_source_items=80, n_target_items=60, seed=5)
    return demo_world.write(demo_world.generate(spec), d)


def test_through_dbt(tiny_world, tmp_path_factory):
    """synthetic_sampler two_stage in the dbt project: builds raw -> synthetic_events_aligned
    without int_cooccurrence / int_translation, keeps synthetic_events' columns and types, fits
    translation.p_norm (leave_self_out false), and stops when combined with a count knob."""
    from scalr.diagnostics import fit_tests
    from tests.conftest import run_dbt
    base = {"events_path": str(tiny_world["events"]), "items_path": str(tiny_world["items"]),
            "synthetic_sampler": "two_stage"}
    w = tmp_path_factory.mktemp("ts_dbt")
    res = run_dbt(w / "a", {**base, "leave_self_out": False}, select="+synthetic_events_aligned",
                  extra=["--exclude", "int_cooccurrence", "int_translation", "translation"])
    assert res.ok, res.output[-3000:]
    with res.con() as con:
        tables = {r[0] for r in con.execute("select table_name from information_schema.tables").fetchall()}
        assert "int_cooccurrence" not in tables and "int_translation" not in tables
        assert con.execute("select count(*) from synthetic_events_aligned").fetchone()[0] > 0
        cols = [r[:2] for r in con.execute("describe synthetic_events").fetchall()]
    assert cols == [("user_id", "VARCHAR"), ("target_item", "VARCHAR"), ("source_domain", "VARCHAR"),
                    ("source_item", "VARCHAR"), ("event_ts", "TIMESTAMP"), ("p", "DOUBLE"),
                    ("p_hat", "DOUBLE"), ("n_users_ji", "BIGINT"), ("weight", "DOUBLE"),
                    ("label", "INTEGER"), ("draw", "INTEGER")]
    # the oracle: translation (P_hat path) built into the same database
    res = run_dbt(w / "a", {**base, "leave_self_out": False}, select="int_cooccurrence int_translation translation", db=res.db)
    assert res.ok, res.output[-3000:]
    with res.con() as con:
        fit = fit_tests(con)
    assert fit["n_draws"] > 5000 and fit["cells_tested"] > 50
    assert fit["pit_chi2_pvalue"] > ALPHA and fit["cell_chi2_pvalue"] > ALPHA
    bad = run_dbt(w / "b", {**base, "min_support": 2}, command="run", select="synthetic_events", db=res.db)
    assert not bad.ok and "synthetic_sampler two_stage" in bad.output and "min_support=" in bad.output

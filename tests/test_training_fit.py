"""Two fits of one P_hat formula (README "The early-stopping slice and P_hat"): the whole-window fit
(int_translation -> translation -> synthetic_events -> synthetic_events_aligned: the product and
the evaluation) and the training fit without the early-stopping slice's target events
(int_training_translation -> training_translation -> training_synthetic_events ->
training_synthetic_events_aligned -> training_rows). A (j, i) pair that co-occurs only through a
slice event is in the first and never in the second; the training fit is the oracle P_hat of the
data without the slice; with validation_fraction 0 both fits are the same tables."""
from __future__ import annotations

import pandas as pd
import pytest

from scalr import demo_world
from scalr import ladder as la
from scalr.oracles import translate

from tests.conftest import run_dbt

TRAIN_END = "2024-10-01"
COLS = ["source_domain", "source_item", "target_item", "n_users_ji", "n_users_j", "p_hat", "p_norm",
        "target_rank", "n_targets"]
# planted: the only overlap user of source item PJ holds target item PI, and only through an event
# one hour before train_end (inside the slice); five users hold PJ in the source domain only
PLANTED = ([("planted_u", "PJ", "source", "2024-03-01 10:00:00"), ("planted_u", "PI", "target", "2024-09-30 23:00:00")]
           + [(f"planted_v{k}", "PJ", "source", f"2024-05-0{k + 1} 12:00:00") for k in range(5)])
VARS = {"train_end": TRAIN_END, "min_support": 1, "max_targets_per_source": None, "translation_shrinkage": 2,
        "count_noise_epsilon": None, "publish_marts": False}
BOTH = "+translation +synthetic_events_aligned +training_translation +training_synthetic_events_aligned"


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("training_fit")
    w = demo_world.generate(demo_world.WorldSpec(n_users=400, n_source_items=100, n_target_items=50, seed=4))
    ev = pd.concat([w.events, pd.DataFrame(PLANTED, columns=["user_id", "item_id", "domain", "event_ts"])],
                   ignore_index=True)
    path = tmp / "events.csv"
    ev.to_csv(path, index=False)
    return tmp, path, ev


@pytest.fixture(scope="module")
def planted(world):
    tmp, path, ev = world
    res = run_dbt(tmp / "slice", {"events_path": str(path), **VARS}, command="run", select=BOTH + " +training_rows +int_target_eval_events")
    assert res.ok, res.output[-4000:]
    return res, ev


@pytest.mark.dbt
def test_a_pair_only_the_slice_supports_is_never_in_the_training_fit(planted):
    res, ev = planted
    cut = pd.Timestamp(res.table("int_validation_cut").validation_start.iat[0])
    assert pd.Timestamp("2024-09-30 23:00:00") >= cut  # the planted target event is in the slice
    # the whole-window fit: P_hat(PI | PJ) = 1 (one overlap user), and the five other users' draws land on PI
    tr = res.table("translation")
    pair = tr[(tr.source_item == "PJ") & (tr.target_item == "PI")]
    assert len(pair) == 1 and pair.n_users_ji.iat[0] == 1 and pair.p_norm.iat[0] == 1.0
    with res.con() as c:
        syn = c.sql("select user_id, source_item, target_item from synthetic_events where source_item = 'PJ'").df()
    assert len(syn) == 15 and (syn.target_item == "PI").all() and syn.user_id.str.startswith("planted_v").all()
    # the training fit: no trace of the pair, of PI or of a draw from PJ, down to the training rows
    ttr = res.table("training_translation")
    assert not ((ttr.source_item == "PJ") | (ttr.target_item == "PI")).any() and len(ttr) > 500
    with res.con() as c:
        for mart in ("training_synthetic_events", "training_synthetic_events_aligned"):
            n, n_pi = c.sql(f"select count(*), count(*) filter (where target_item = 'PI' or source_item = 'PJ') "
                            f"from {mart}").fetchall()[0]
            assert n > 1000 and n_pi == 0, mart
        rows = c.sql("select item_id, source_item, is_synthetic from training_rows").df()
    syn_rows = rows[rows.is_synthetic == 1]
    assert len(syn_rows) > 1000 and not (syn_rows.item_id == "PI").any() and not (syn_rows.source_item == "PJ").any()
    # other slice events also leave the training fit: the two fits differ beyond the planted pair
    assert len(ttr) < len(tr) - 1


@pytest.mark.dbt
def test_the_training_fit_is_the_p_hat_of_the_data_without_the_slice(planted):
    """training_translation == the independent oracle (scalr.oracles.translate) on the train-window
    events less the target events at or after int_validation_cut.validation_start."""
    res, ev = planted
    cut = pd.Timestamp(res.table("int_validation_cut").validation_start.iat[0])
    ts = pd.to_datetime(ev.event_ts)
    train = ev[ts < pd.Timestamp(TRAIN_END)]
    src = train[train.domain != "target"].rename(columns={"domain": "source_domain", "item_id": "source_item"})
    tgt = train[train.domain == "target"]
    for mart, target in (("training_translation", tgt[pd.to_datetime(tgt.event_ts) < cut]), ("translation", tgt)):
        ref = translate(src, target, min_support=1, shrinkage=2)[COLS].sort_values(COLS[:3]).reset_index(drop=True)
        got = res.table(mart).sort_values(COLS[:3]).reset_index(drop=True)[COLS]
        assert len(got) == len(ref) > 500, mart
        for c in COLS:
            if c in ("p_hat", "p_norm"):
                assert (got[c] - ref[c]).abs().max() < 1e-12, (mart, c)
            else:
                assert (got[c].to_numpy() == ref[c].to_numpy()).all(), (mart, c)


@pytest.mark.dbt
def test_without_a_slice_the_two_fits_are_the_same_tables(world):
    tmp, path, _ = world
    res = run_dbt(tmp / "no_slice", {"events_path": str(path), **VARS, "validation_fraction": 0}, command="run",
                  select=BOTH)
    assert res.ok, res.output[-4000:]
    with res.con() as c:
        assert c.sql("select validation_start from int_validation_cut").fetchall()[0][0] is None
        for whole, fit, key in (
                ("int_user_items", "int_training_user_items", "user_key, item_key"),
                ("int_translation", "int_training_translation", "source_key, target_key"),
                ("translation", "training_translation", "source_domain, source_item, target_item"),
                ("synthetic_events", "training_synthetic_events", "user_id, source_domain, source_item, event_ts, label, draw"),
                ("synthetic_events_aligned", "training_synthetic_events_aligned",
                 "user_id, source_domain, source_item, event_ts, label, draw")):
            a = c.sql(f"select * from {whole} order by {key}").df()
            b = c.sql(f"select * from {fit} order by {key}").df()
            assert len(a) > 100 and a.equals(b), (whole, fit)


@pytest.mark.dbt
def test_the_ladder_trains_on_the_training_fit_and_evaluates_on_the_whole_window(planted, monkeypatch):
    """scalr.ladder (model_metrics, scalr.experiments): the training rows' context and synthetic
    rows are the training fit's (no synthetic mass on PI), the evaluation context the whole
    window's (PI carries the planted users' draws)."""
    res, _ = planted
    with res.con() as con:
        data = la.BuildData.from_db(con, pd.Timestamp(TRAIN_END))
    assert data.train_synthetic is not None and data.train_translation is not None
    seen = {}
    train_rows, score = la.training_rows, la.score

    def spy_rows(ctx, data_, synthetic, cfg):
        seen["train"], seen["train_synthetic"] = ctx, synthetic
        return train_rows(ctx, data_, synthetic, cfg)

    def spy_score(ctx, *a, **kw):
        seen["eval"] = ctx
        return score(ctx, *a, **kw)

    monkeypatch.setattr(la, "training_rows", spy_rows)
    monkeypatch.setattr(la, "score", spy_score)
    gen = la.Generator("default", data.synthetic, arms=("T+S",), train_synthetic=data.train_synthetic)
    la.run_ladder(data, la.LadderConfig(seeds=(0,), n_boot=10), [gen], log=lambda m: None)
    assert seen["train_synthetic"] is data.train_synthetic
    pi = seen["eval"].items.get_loc("PI")
    assert seen["eval"].Hs[:, pi].sum() > 0 and seen["train"].Hs[:, pi].sum() == 0
    assert seen["eval"].P_matrix[:, pi].sum() > 0 and seen["train"].P_matrix[:, pi].sum() == 0

"""SASRec consumer of synthetic histories (issue 15): planted sequential rule learned (and not on
shuffled sequences), determinism for a seed, the history windows, the study on a tiny world."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from scalr import history_scaling as hs
from scalr import ladder as la
from scalr.sasrec.data import Histories, last_window, split_last, windows
from scalr.sasrec.model import ModelConfig
from scalr.sasrec.train import TrainConfig, mean_loss, score, train

N_ITEMS = 40
TINY = ModelConfig(d=32, max_len=10)


def chains(rng, n_seq, length):
    """The planted rule: item k is followed by item k + 1 (mod N_ITEMS)."""
    start = rng.integers(0, N_ITEMS, n_seq)
    return (start[:, None] + np.arange(length)[None]) % N_ITEMS


def next_item_accuracy(mat, seed=0):
    cfg = TrainConfig(model=TINY, token_budget=20_000, eval_every_tokens=10 ** 9, seed=seed, lr=3e-3)
    res = train(Histories.from_matrix(mat), N_ITEMS, cfg)
    test = chains(np.random.default_rng(99), 200, 6)
    s = score(res.model, last_window(Histories.from_matrix(test), TINY.max_len))
    return float((s.argmax(1) == (test[:, -1] + 1) % N_ITEMS).mean()), res, s


def test_learns_planted_rule_and_not_shuffled():
    rng = np.random.default_rng(0)
    mat = chains(rng, 300, 12)
    acc, _, _ = next_item_accuracy(mat)
    shuffled = np.array([rng.permutation(r) for r in mat])  # same items, order destroyed
    acc_sh, _, _ = next_item_accuracy(shuffled)
    chance = 1 / N_ITEMS
    assert acc > 0.5, acc  # far above chance (0.025)
    assert acc_sh < 4 * chance, acc_sh


def test_deterministic_for_a_seed():
    mat = chains(np.random.default_rng(1), 100, 12)
    kw = dict(model=TINY, token_budget=4_000, eval_every_tokens=1_000, seed=3, loss="sampled", n_negatives=8)
    val = windows(Histories.from_matrix(chains(np.random.default_rng(2), 20, 8)), TINY.max_len)
    tokens = last_window(Histories.from_matrix(mat[:5]), TINY.max_len)
    runs = [train(Histories.from_matrix(mat), N_ITEMS, TrainConfig(**kw), val=val) for _ in range(2)]
    assert runs[0].history == runs[1].history
    assert score(runs[0].model, tokens).tobytes() == score(runs[1].model, tokens).tobytes()
    other = train(Histories.from_matrix(mat), N_ITEMS, TrainConfig(**{**kw, "seed": 4}), val=val)
    assert other.history != runs[0].history


def test_windows_and_split():
    h = Histories.from_codes(np.array([0, 0, 0, 1, 2, 2]), np.array([5, 6, 7, 9, 1, 2]), np.array([3, 1, 2, 0, 0, 1]))
    assert h.items.tolist() == [6, 7, 5, 9, 1, 2] and h.n_tokens == 3
    inp, tgt = windows(h, 2)  # seq 0 -> pieces [7,5] <- [6] ... tokens are codes + 1
    assert inp.tolist() == [[7, 8], [0, 2]] and tgt.tolist() == [[8, 6], [0, 3]]
    assert last_window(h, 2).tolist() == [[8, 6], [0, 10], [2, 3]]
    short, last = split_last(h, np.array([True, True, False]))
    assert last.tolist() == [5, -1, -1] and short.items.tolist() == [6, 7, 9, 1, 2]


def test_cf_pairs_are_co_occurrences():
    real = pd.DataFrame({"u": [0, 0, 0, 1, 1, 2], "i": [0, 1, 2, 2, 3, 4]})
    g, _ = hs.graph_of(real, 5)
    p = hs.cf_pairs(g, 500, 0)
    user_sets = {0: {0, 1, 2}, 1: {2, 3}}
    assert (p[:, 0] != p[:, 1]).all()
    assert all(any({a, b} <= s for s in user_sets.values()) for a, b in p.tolist())
    assert 4 not in p  # user 2 has one item: no pair


@pytest.fixture(scope="module")
def tiny_world():
    """30 items on a cycle; users' real target histories follow the planted chain, eval = the next
    item; 10 target-cold users have only SCALR synthetic target events."""
    rng = np.random.default_rng(5)
    n_items, t0 = 30, pd.Timestamp("2024-01-01")
    rows, ev, syn = [], [], []
    for u in range(80):
        s = int(rng.integers(0, n_items))
        seq = [(s + k) % n_items for k in range(7)]
        uid = f"u{u}"
        if u < 10:  # target-cold: synthetic events only
            syn += [(uid, f"t{i}", t0 + pd.Timedelta(days=k), 1) for k, i in enumerate(seq[:-1])]
        else:
            rows += [(uid, f"t{i}", t0 + pd.Timedelta(days=k), 1) for k, i in enumerate(seq[:-1])]
        ev.append((uid, f"t{seq[-1]}", pd.Timestamp("2024-10-05"), 1))
    tt = pd.DataFrame(rows, columns=["user_id", "item_id", "event_ts", "label"])
    te = pd.DataFrame(ev, columns=["user_id", "item_id", "event_ts", "label"])
    sy = pd.DataFrame(syn, columns=["user_id", "target_item", "event_ts", "label"])
    se = pd.DataFrame({"user_id": sy.user_id, "source_domain": "s", "source_item": "x", "event_ts": sy.event_ts,
                       "label": 1})
    data = la.BuildData(tt, se, te, pd.DataFrame(), pd.Timestamp("2024-10-01"), synthetic=sy)
    st = rng.integers(0, n_items, 100)
    walks = pd.DataFrame([(w, p, f"t{(s + p) % n_items}") for w, s in enumerate(st) for p in range(8)],
                         columns=["walk_id", "position", "item_id"])
    return data, walks


def test_study_end_to_end_on_tiny_world(tiny_world, tmp_path):
    from scalr.histories import study
    data, walks = tiny_world
    cfg = {"seeds": [0], "n_boot": 20,
           "train": {"model": {"d": 16, "max_len": 10}, "token_budget": 12000, "eval_every_tokens": 4000,
                     "lr": 1e-2, "patience": 10},
           "scaling": {"budgets": [100, 200, 400, 800, 1600, 3200], "walk_length": 6, "n_boot": 10,
                       "n_eval_real": 50, "n_eval_walks": 30},
           "scaling_train": {"batch_tokens": 64}}
    tables = study(data, walks, cfg, tmp_path / "rep", "tiny")
    res = tables["history_results"]
    a = res[res.segment == "all"].set_index("model")
    assert set(a.index) == {"R", "S", "R+S", "R+SCALR", "popularity", "item_item"}
    # the chain is learnable from every arm's data: far above popularity (about 10/30 at random order)
    assert a.loc["R", "recall_at_10"] > 0.6 and a.loc["S", "recall_at_10"] > 0.6
    cold = res[res.segment == "cold"].set_index("model")
    # cold users have no real history: only R+SCALR gives them an input
    assert cold.loc["R+SCALR", "recall_at_10"] > cold.loc["R", "recall_at_10"] + 0.3
    assert len(tables["scaling_results"]) == 12 and set(tables["scaling_fits"].mix) == {"histories", "histories+cf"}
    for f in ("report.md", "recall_by_arm.png", "loss_vs_d.png", "visits_vs_degree.png", "histories.duckdb"):
        assert (tmp_path / "rep" / f).exists(), f

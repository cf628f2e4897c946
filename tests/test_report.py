"""The experiment report on a small synthetic result frame (no dbt, no LightGBM): intervals that
contain their point, axis labels on every plot, no overlapping tick labels, identical
configurations merged and named, and report.html as one self-contained page that renders in
headless Chromium (asserted on the rendered DOM; screenshot in the test's temp dir)."""
from __future__ import annotations

import re
import shutil
from itertools import combinations

import numpy as np
import pandas as pd
import pytest

from scalr import report
from tests.browser import render
SEEDS = (0, 1, 2)
CONFIGS = ["T", "T+F", "T+S", "T+F+S", "T+S:lambda_0.3", "T+S:lambda_3", "T+S:volume_1", "T+S:volume_4",
           "T+S:k10_per_draw_with_a_long_name_for_wrapping", "T+S:oracle", "T+S:shuffled"]


def _frame() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(3)
    rows = []
    for keep in (1.0, 0.3):
        for config in CONFIGS:
            if config == "T+S:volume_4":
                continue  # a copy of T+S below: the bucket cap makes them the same rows
            for seed in SEEDS:
                for seg in ("all", "cold", "warm"):
                    d = 0.0 if config == "T" else rng.normal(0.02, 0.02)
                    rel = 0.0 if config == "T" else rng.normal(-2, 3)
                    w = rng.uniform(0.005, 0.02)
                    rows.append({"keep": keep, "config": config, "model": "binary", "seed": seed, "segment": seg,
                                 "arm": config.split(":")[0], "study": "x", "n_users": 500, "recall_at_10": 0.1 + d,
                                 "recall_at_50": 0.3 + d, "recall_at_100": 0.4 + d, "ndcg_at_10": 0.05 + d / 2,
                                 "coverage_at_50": 0.2, "ne": 0.9 * (1 + rel / 100), "auc": 0.7,
                                 "diff_recall_at_50": d, "diff_recall_at_50_lo": d - w if seed == 0 else np.nan,
                                 "diff_recall_at_50_hi": d + w if seed == 0 else np.nan,
                                 "rel_ne_pct": rel, "rel_ne_lo": rel - 1.5 if seed == 0 else np.nan,
                                 "rel_ne_hi": rel + 1.5 if seed == 0 else np.nan,
                                 "synthetic_rows": {"T+S:volume_1": 1000, "T+S": 4000}.get(config, 4000)})
        for seg in ("all", "cold", "warm"):
            for h in ("popularity", "translation_score", "mf_real"):
                rows.append({"keep": keep, "config": f"heuristic:{h}", "model": "heuristic", "seed": -1,
                             "segment": seg, "arm": "heuristic", "study": "heuristic", "n_users": 500,
                             "recall_at_50": rng.uniform(0.1, 0.3)})
    res = pd.DataFrame(rows)
    ts = res[res.config == "T+S"]
    res = pd.concat([res, ts.assign(config="T+S:volume_4")], ignore_index=True)
    dec = pd.DataFrame([{"keep": k, "config": c, "model": "binary", "seed": 0, "segment": "all", "decile": d,
                         "n_pos": 10 * d, "recall_at_50": d / 10} for k in (1.0, 0.3) for c in ("T", "T+S")
                        for d in range(1, 11)])
    splits = pd.DataFrame([{"keep": k, "eval_users_ranked": 500, "ranking": "full catalog"} for k in (1.0, 0.3)])
    return res, dec, splits


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    res, dec, splits = _frame()
    report.write_report(res, dec, pd.DataFrame(), splits, out, "synthetic", "experiments/x.yml", 1.0,
                        synthetic_lambda=1.0)
    return res, out


def test_every_interval_contains_its_point(written):
    res, _ = written
    s = report.summarize(res)
    s = s[~s.config.str.startswith("heuristic")]
    for c in ("diff_recall_at_50", "rel_ne_pct"):
        assert (s[c + "_seed_min"] <= s[c] + 1e-12).all() and (s[c] <= s[c + "_seed_max"] + 1e-12).all()
        lo, hi = ("rel_ne_lo", "rel_ne_hi") if c == "rel_ne_pct" else (c + "_lo", c + "_hi")
        assert (s[lo] <= s[c + "_first"]).all() and (s[c + "_first"] <= s[hi]).all()
        # the mean over seeds differs from the first seed's point: pairing it with that CI was the old bug
        assert (s[c] != s[c + "_first"]).any()


def test_identical_configurations_are_merged_and_named(written):
    res, out = written
    assert report.identical_configs(res, 0.3) == [["T+S", "T+S:volume_4"]]
    md = (out / "report.md").read_text()
    assert "Identical results on every seed and segment" in md and "T+S = T+S:volume_4 (4000 synthetic rows)" in md
    assert "| T+S:volume_4 |" not in md


def _overlaps(boxes) -> list:
    return [(a, b) for a, b in combinations(boxes, 2) if a.overlaps(b)]


def test_every_plot_has_axis_labels_and_no_overlapping_labels(written):
    res, _ = written
    s = report.summarize(res)
    figs = report.figures(report.merge_identical(s[s.keep == 0.3], report.identical_configs(res, 0.3)), 0.3)
    names = [n for n, _ in figs]
    assert {"diff_recall_at_50_keep0.3.png", "rel_ne_pct_keep0.3.png", "curve_lambda_keep0.3.png",
            "curve_volume_keep0.3.png"} <= set(names)
    for name, fig in figs:
        fig.canvas.draw()
        r = fig.canvas.get_renderer()
        assert any(ax.get_ylabel() for ax in fig.axes), name
        for ax in fig.axes:
            assert ax.get_xlabel() and "(" in ax.get_xlabel(), (name, ax.get_xlabel())  # a unit / scale in parentheses
            for ticks in (ax.get_yticklabels(), ax.get_xticklabels()):
                boxes = [t.get_window_extent(r) for t in ticks if t.get_visible() and t.get_text()]
                assert not _overlaps(boxes), (name, [t.get_text() for t in ticks])
            if name.startswith("curve_"):  # a curve has its band over seeds
                assert ax.collections, name
        report.plt.close(fig)


def test_html_report_is_self_contained_and_renders_in_chromium(written, tmp_path):
    _, out = written
    page = (out / "report.html").read_text()
    srcs = re.findall(r'src="([^"]*)"', page)
    pngs = sorted(p.name for p in out.glob("*.png"))
    assert len(srcs) == len(pngs) >= 8 and all(s.startswith("data:image/png;base64,") for s in srcs)
    assert "href=" not in page and "<script" not in page
    shutil.copy(out / "report.html", tmp_path / "report.html")  # alone: nothing beside it to load
    page = render((tmp_path / "report.html").as_uri(), tmp_path, "report", size=(1400, 2400))
    dom = page.dom
    assert "<h1>scalr experiments: synthetic</h1>" in dom
    assert dom.count("<h2>target_keep_users") == 2 and dom.count("<table>") >= 8
    assert dom.count('<img alt="') == len(pngs)
    assert "T+S = T+S:volume_4" in dom and "range over seeds" in dom
    assert page.screenshot.stat().st_size > 20_000

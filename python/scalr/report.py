"""Markdown + PNG report of the ladder results (written by scalr.experiments).

Every comparison is against the target-only arm T of the same seed. A configuration "helps" a
segment only when its paired user-bootstrap CI (first seed) excludes 0 **and** every seed's
difference has the same sign ("hurts" likewise); anything else is "no effect" (inside the CI or
the seed spread)."""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

KEY = ["keep", "config", "model", "segment"]
SHOW = ["recall_at_10", "recall_at_50", "recall_at_100", "ndcg_at_10", "coverage_at_50", "ne", "auc",
        "recall_at_50_head", "recall_at_50_tail"]


def _f(v, d: int = 3, sign: bool = False) -> str:
    if v is None or (isinstance(v, float) and not np.isfinite(v)):
        return ""
    return f"{v:+.{d}f}" if sign else f"{v:.{d}f}"


def verdict(diff_mean: float, lo: float, hi: float, per_seed: np.ndarray) -> str:
    """'helps' / 'hurts' when the first seed's paired CI excludes 0 and every seed agrees in sign."""
    s = np.asarray(per_seed, float)
    s = s[np.isfinite(s)]
    if not np.isfinite(lo) or not len(s):
        return ""
    if lo > 0 and (s > 0).all():
        return "helps"
    if hi < 0 and (s < 0).all():
        return "hurts"
    return "no effect"


def summarize(res: pd.DataFrame, model: str = "binary") -> pd.DataFrame:
    """Per keep x config x segment: mean over seeds, the spread (max - min) of the differences to T,
    the first seed's CIs, and a verdict on Recall@50 and NE."""
    r = res[res.model.isin([model, "heuristic"])]
    rows = []
    for key, g in r.groupby(KEY, sort=False):
        first = g.sort_values("seed").iloc[0]
        rec = dict(zip(KEY, key))
        rec.update(arm=first.get("arm"), study=first.get("study"), n_seeds=len(g), n_users=first.get("n_users"))
        for c in SHOW + ["rel_ne_pct", "diff_recall_at_50", "diff_ndcg_at_10", "diff_recall_at_10"]:
            if c in g:
                rec[c] = float(g[c].mean())
        for c in ("rel_ne_pct", "diff_recall_at_50", "diff_ndcg_at_10", "diff_recall_at_10"):
            if c in g:
                rec[c + "_spread"] = float(g[c].max() - g[c].min())
        for c in ("diff_recall_at_50", "diff_ndcg_at_10", "diff_recall_at_10"):
            rec[c + "_lo"], rec[c + "_hi"] = float(first.get(c + "_lo", np.nan)), float(first.get(c + "_hi", np.nan))
        rec["rel_ne_lo"], rec["rel_ne_hi"] = float(first.get("rel_ne_lo", np.nan)), float(first.get("rel_ne_hi", np.nan))
        rec["verdict_recall_at_50"] = verdict(rec.get("diff_recall_at_50", np.nan), rec.get("diff_recall_at_50_lo", np.nan),
                                              rec.get("diff_recall_at_50_hi", np.nan), g["diff_recall_at_50"].to_numpy()
                                              if "diff_recall_at_50" in g else [])
        # NE: negative is better
        rec["verdict_ne"] = verdict(-rec.get("rel_ne_pct", np.nan), -rec["rel_ne_hi"], -rec["rel_ne_lo"],
                                    -g["rel_ne_pct"].to_numpy() if "rel_ne_pct" in g and first.get("model") != "heuristic"
                                    else [])
        rows.append(rec)
    return pd.DataFrame(rows)


def ladder_table(s: pd.DataFrame, keep: float, configs: list[str] | None = None) -> str:
    t = s[s.keep == keep]
    if configs is not None:
        t = t[t.config.isin(configs)]
    head = ("| config | segment | users | Recall@10 | Recall@50 | Recall@100 | NDCG@10 | coverage@50 | "
            "ΔRecall@50 vs T [95% CI] (seed spread) | verdict R@50 | NE | rel NE % vs T [95% CI] (seed spread) | "
            "verdict NE |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|\n")
    lines = []
    for _, r in t.iterrows():
        d = "" if r.config == "T" or not np.isfinite(r.get("diff_recall_at_50", np.nan)) else (
            f"{_f(r.diff_recall_at_50, 4, True)} [{_f(r.get('diff_recall_at_50_lo'), 4, True)}, "
            f"{_f(r.get('diff_recall_at_50_hi'), 4, True)}] ({_f(r.get('diff_recall_at_50_spread'), 4)})")
        rel = "" if r.config == "T" or not np.isfinite(r.get("rel_ne_pct", np.nan)) else (
            f"{_f(r.rel_ne_pct, 2, True)} [{_f(r.get('rel_ne_lo'), 2, True)}, {_f(r.get('rel_ne_hi'), 2, True)}] "
            f"({_f(r.get('rel_ne_pct_spread'), 2)})")
        lines.append(f"| {r.config} | {r.segment} | {int(r.n_users) if np.isfinite(r.n_users) else ''} | "
                     f"{_f(r.get('recall_at_10'))} | {_f(r.get('recall_at_50'))} | {_f(r.get('recall_at_100'))} | "
                     f"{_f(r.get('ndcg_at_10'))} | {_f(r.get('coverage_at_50'))} | {d} | "
                     f"{'' if r.config == 'T' else r.verdict_recall_at_50} | {_f(r.get('ne'))} | {rel} | "
                     f"{'' if r.config == 'T' else r.verdict_ne} |")
    return head + "\n".join(lines) + "\n"


def plot(s: pd.DataFrame, keep: float, out: Path) -> str:
    t = s[(s.keep == keep) & (s.config != "T") & ~s.config.str.startswith("heuristic")]
    fig, axes = plt.subplots(1, 2, figsize=(13, max(3.0, 0.35 * t.config.nunique() + 1.5)))
    for ax, seg in zip(axes, ("all", "cold")):
        u = t[t.segment == seg].reset_index(drop=True)
        y = np.arange(len(u))
        lo = (u.diff_recall_at_50 - u.diff_recall_at_50_lo).clip(lower=0).fillna(0)
        hi = (u.diff_recall_at_50_hi - u.diff_recall_at_50).clip(lower=0).fillna(0)
        ax.errorbar(u.diff_recall_at_50, y, xerr=[lo, hi], fmt="o", capsize=3)
        ax.axvline(0, color="grey", lw=1)
        ax.set_yticks(y, u.config, fontsize=8)
        ax.set_xlabel("Recall@50 minus T's (mean over seeds; bars: paired 95 % CI, first seed)")
        ax.set_title(f"{seg} users, target_keep_users {keep}")
    fig.tight_layout()
    path = out / f"diff_recall50_keep{keep}.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path.name


def decile_table(dec: pd.DataFrame, keep: float, configs: list[str]) -> str:
    d = dec[(dec.keep == keep) & (dec.segment == "all") & dec.config.isin(configs)
            & dec.seed.isin([dec.seed[dec.seed >= 0].min(), -1])]
    if not len(d):
        return ""
    p = d.pivot_table(index="config", columns="decile", values="recall_at_50", aggfunc="mean")
    n = d[d.config == configs[0]].set_index("decile").n_pos
    head = "| config | " + " | ".join(f"d{c}" for c in p.columns) + " |\n|---|" + "---|" * len(p.columns) + "\n"
    lines = ["| eval positives | " + " | ".join(str(int(n.get(c, 0))) for c in p.columns) + " |"]
    lines += [f"| {c} | " + " | ".join(_f(p.loc[c, k]) for k in p.columns) + " |" for c in configs if c in p.index]
    return head + "\n".join(lines) + "\n"


def diagnostic(res: pd.DataFrame, keep: float) -> str:
    """Full-catalog Recall@50 of scores that need no LightGBM: popularity, the translation score
    sum_j P_hat(i|j), and two cheap per-user models of real + synthetic events (item-item, implicit
    ALS) next to the same models on real events only; lift = ratio to popularity."""
    h = res[(res.keep == keep) & (res.model == "heuristic")].set_index(["config", "segment"])
    names = [("popularity", "popularity"), ("translation_score", "translation score"),
             ("item_item", "item-item real"), ("synthetic_item_item", "item-item real + synthetic"),
             ("mf_real", "ALS real"), ("synthetic_mf", "ALS real + synthetic")]
    lines = ["| segment | " + " | ".join(n for _, n in names) + " |", "|---|" + "---|" * len(names)]
    for seg in ("all", "cold", "warm"):
        def g(c):
            return h.recall_at_50.get((f"heuristic:{c}", seg), np.nan)
        p = g("popularity")
        cells = [_f(p)] + [f"{_f(g(c))} ({_f(g(c) / p, 2)}x)" for c, _ in names[1:]]
        lines.append(f"| {seg} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def write_report(res: pd.DataFrame, dec: pd.DataFrame, aud: pd.DataFrame, splits: pd.DataFrame, out: Path,
                 name: str, config_path: str, runtime: float) -> Path:
    s = summarize(res)
    parts = [f"# scalr experiments: {name}\n",
             f"`python -m scalr.experiments {config_path}` ({runtime:.0f} s). Every comparison is against **T** "
             "(target only: no feature reads a source event, P̂ or a synthetic event), paired by user, per seed. "
             "'helps' / 'hurts': the paired 95 % user-bootstrap CI (first seed) excludes 0 and every seed's "
             "difference has the same sign; otherwise 'no effect'. Ranking: full catalog (every train-catalog item "
             "but the user's own train items).\n"]
    for keep in sorted(res.keep.unique(), reverse=True):
        sp = splits[splits.keep == keep].iloc[0].to_dict()
        parts.append(f"\n## target_keep_users {keep}\n")
        parts.append("Evaluation set: " + ", ".join(f"{k} {v}" for k, v in sp.items() if k != "keep") + ".\n")
        parts.append("\n### Will it help? Recall@50 without LightGBM (lift over popularity)\n\n" + diagnostic(res, keep))
        sk = s[s.keep == keep]
        ladder = [c for c in ["T", "T+F", "T+S", "T+F+S"] if c in set(sk.config)]
        heur = sorted(c for c in set(sk.config) if c.startswith("heuristic:"))
        parts.append("\n### The ladder (binary LightGBM, mean over seeds)\n\n" + ladder_table(sk, keep, ladder + heur))
        studies = [c for c in sk.config.unique() if c.startswith("T+S:")]
        ctrl = [c for c in studies if c.split(":", 1)[1] in ("oracle", "shuffled")]
        other = [c for c in studies if c not in ctrl]
        if ctrl:
            parts.append("\n### Controls\n\n" + ladder_table(sk, keep, ["T+S"] + ctrl))
        if other:
            parts.append("\n### Generator studies (T+S under each variant)\n\n"
                         + ladder_table(sk[sk.segment != "warm"], keep, ["T+S"] + other))
        parts.append(f"\n![ΔRecall@50]({plot(s, keep, out)})\n")
        parts.append("\n### Recall@50 by item-popularity decile (all users; d10 = the 10 % most popular items)\n\n"
                     + decile_table(dec, keep, [c for c in ["T", "T+F", "T+S", "T+F+S", "heuristic:popularity"]
                                                if c in set(dec.config)]))
        if len(aud):
            a = aud[(aud.keep == keep) & aud.purged]
            purged = a.groupby("config").feature.apply(lambda x: ", ".join(x)).to_dict()
            parts.append("\nLeak audit, features flagged (masked on synthetic rows with purge_mode mask, dropped with "
                         "drop): " + ("; ".join(f"{k}: {v}" for k, v in purged.items()) or "none") + ".\n")
    path = out / "report.md"
    path.write_text("".join(parts))
    return path

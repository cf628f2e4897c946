"""Markdown + PNG report of ``experiment_results`` (written by scalr.experiments)."""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

METRICS = ["rel_ne_pct", "ne", "auc", "calibration", "recall@10", "recall@50", "ndcg@10", "ndcg@50", "coverage@10"]


def summarize(res: pd.DataFrame, model: str = "binary") -> pd.DataFrame:
    """Mean over seeds, seed spread (max - min) and the first seed's bootstrap CI, per keep x config x segment."""
    r = res[res.model.isin([model, "heuristic"])]
    cols = [m for m in METRICS if m in r]
    g = r.groupby(["keep", "study", "config", "segment"], sort=False)
    mean = g[cols].mean()
    spread = (g[cols].max() - g[cols].min()).add_suffix("_spread")
    first = r.sort_values("seed").groupby(["keep", "study", "config", "segment"], sort=False).first()
    lo_hi = [c for c in first.columns if c.endswith("_lo") or c.endswith("_hi")]
    return pd.concat([mean, spread, first[lo_hi]], axis=1).reset_index()


def md_table(df: pd.DataFrame) -> str:
    cols = list(df.columns)
    rows = ["| " + " | ".join(map(str, cols)) + " |", "|" + "---|" * len(cols)]
    rows += ["| " + " | ".join(str(v) for v in r) + " |" for r in df.itertuples(index=False)]
    return "\n".join(rows) + "\n"


def _fmt(v, d=3):
    return "" if v is None or (isinstance(v, float) and not np.isfinite(v)) else f"{v:.{d}f}"


def table(s: pd.DataFrame, keep: float, segment: str) -> str:
    t = s[(s.keep == keep) & (s.segment == segment)]
    head = ("| study | config | rel NE % [95% CI] (seed spread) | NE | AUC | calib | Recall@10 | Recall@50 [CI] "
            "| NDCG@10 | coverage@10 |\n|---|---|---|---|---|---|---|---|---|---|\n")
    lines = []
    for _, r in t.iterrows():
        rel = "" if not np.isfinite(r.get("rel_ne_pct", np.nan)) else (
            f"{r.rel_ne_pct:+.2f} [{_fmt(r.get('rel_ne_lo'), 2)}, {_fmt(r.get('rel_ne_hi'), 2)}] "
            f"({_fmt(r.get('rel_ne_pct_spread'), 2)})")
        lines.append(f"| {r.study} | {r.config} | {rel} | {_fmt(r.get('ne'))} | {_fmt(r.get('auc'))} | "
                     f"{_fmt(r.get('calibration'), 2)} | {_fmt(r.get('recall@10'))} | {_fmt(r.get('recall@50'))} "
                     f"[{_fmt(r.get('recall@50_lo'))}, {_fmt(r.get('recall@50_hi'))}] | {_fmt(r.get('ndcg@10'))} | "
                     f"{_fmt(r.get('coverage@10'))} |")
    return head + "\n".join(lines) + "\n"


def plots(s: pd.DataFrame, aud: pd.DataFrame, out: Path) -> list[str]:
    files = []
    for keep in sorted(s.keep.unique()):
        t = s[(s.keep == keep) & ~s.config.str.startswith("heuristic") & (s.config != "baseline")]
        fig, axes = plt.subplots(1, 2, figsize=(13, 5))
        for ax, seg in zip(axes, ("all", "cold")):
            u = t[t.segment == seg]
            y = np.arange(len(u))
            ax.errorbar(u.rel_ne_pct, y, xerr=[(u.rel_ne_pct - u.rel_ne_lo).clip(lower=0), (u.rel_ne_hi - u.rel_ne_pct).clip(lower=0)], fmt="o")
            ax.set_yticks(y, u.config)
            ax.axvline(0, color="k", lw=0.5)
            ax.set_title(f"relative NE % vs baseline, {seg} users (keep={keep})")
        fig.tight_layout()
        f = out / f"rel_ne_keep{keep}.png"
        fig.savefig(f, dpi=90)
        plt.close(fig)
        files.append(f.name)
        fig, ax = plt.subplots(1, 3, figsize=(15, 4))
        lam = t[t.config.str.startswith("lambda") | (t.config == "sample")].copy()
        lam["x"] = lam.config.map(lambda c: 1.0 if c == "sample" else float(c.split("_")[1]))
        vol = t[t.config.str.startswith("volume") | (t.config == "sample")].copy()
        vol["x"] = vol.config.map(lambda c: 1.0 if c == "sample" else float(c.split("_")[1]))
        for seg in ("all", "cold", "warm"):
            a = lam[lam.segment == seg].sort_values("x")
            ax[0].plot(a.x, a.rel_ne_pct, "o-", label=seg)
            b = vol[vol.segment == seg].sort_values("x")
            ax[1].plot(b.x, b.rel_ne_pct, "o-", label=seg)
        ax[0].set_xscale("log"); ax[0].set_title("lambda curve: rel NE %"); ax[0].legend()
        ax[1].set_xscale("log"); ax[1].set_title("volume curve (synthetic:real ratio): rel NE %"); ax[1].legend()
        cv = s[(s.keep == keep) & (s.segment == "all")]
        ax[2].barh(cv.config, cv["coverage@10"])
        ax[2].set_title("catalog coverage@10")
        fig.tight_layout()
        f = out / f"curves_keep{keep}.png"
        fig.savefig(f, dpi=90)
        plt.close(fig)
        files.append(f.name)
    if len(aud):
        a = aud[(aud.config.isin(["sample", "no_purge"]))]
        a = a[a.keep == a.keep.max()]
        fig, ax = plt.subplots(figsize=(8, 5))
        p = a[a.config == "no_purge"].set_index("feature")
        ax.barh(p.index, p.leak_gap)
        ax.axvline(0.1, color="r", ls="--", label="purge threshold")
        ax.set_title("leak audit: label-AUC gap synthetic - real (no purge)")
        ax.legend()
        fig.tight_layout()
        f = out / "leak_audit.png"
        fig.savefig(f, dpi=90)
        plt.close(fig)
        files.append(f.name)
    return files


def write_report(res: pd.DataFrame, aud: pd.DataFrame, splits: pd.DataFrame, out: Path, name: str,
                 config_path: str, runtime_s: float) -> Path:
    out = Path(out)
    s = summarize(res)
    files = plots(s, aud, out)
    md = [f"# SCALR experiments: {name}\n", f"Command: `python -m scalr.experiments {config_path}`; "
          f"runtime {runtime_s:.0f} s. Metrics of the binary LightGBM; mean over seeds "
          f"{sorted(res[res.seed >= 0].seed.unique().tolist())}; CIs: 95 % user bootstrap of the first seed; "
          "seed spread = max - min over seeds. Relative NE is paired against the no-synthetic baseline of the "
          "same seed.\n", "## Splits\n", md_table(splits), "\n",
          "## Summary (all and cold users; the tables of docs/results.md)\n", compact_tables(res), "\n"]
    md += ["\n## Baseline vs heuristics (paired user bootstrap, first seed)\n", baseline_vs_heuristics(res), "\n"]
    for keep in sorted(s.keep.unique()):
        for seg in ("all", "cold", "warm"):
            md += [f"\n## target_keep_users = {keep}, {seg} users\n", table(s, keep, seg)]
    rk = summarize(res, "lambdarank")
    rk = rk[rk.config.isin(res[res.model == "lambdarank"].config.unique())]
    if len(rk):
        md += ["\n## lambdarank (ranking metrics)\n"]
        for keep in sorted(rk.keep.unique()):
            for seg in ("all", "cold"):
                md += [f"\n### keep = {keep}, {seg}\n", table(rk, keep, seg)]
    if len(aud):
        md += ["\n## Leak audit (adversarial synthetic-vs-real; leak_gap = label AUC on synthetic rows - on real rows)\n"]
        for (keep, cfg), a in aud.groupby(["keep", "config"], sort=False):
            if cfg not in ("sample", "no_purge", "top1"):
                continue
            after = a.adversarial_auc_after_purge.iat[0] if "adversarial_auc_after_purge" in a else float("nan")
            md += [f"\n### keep = {keep}, {cfg}: adversarial classifier AUC {a.adversarial_auc_model.iat[0]:.3f} "
                   f"before the purge, {after:.3f} after (on the kept features)\n",
                   a[["feature", "adversarial_auc", "importance_gain", "label_auc_real", "label_auc_synthetic",
                      "leak_gap", "purged"]].round(3).pipe(md_table), "\n"]
    md += ["\n## Plots\n"] + [f"![{f}]({f})\n" for f in files]
    path = out / "report.md"
    path.write_text("\n".join(md))
    return path


def compact_tables(res: pd.DataFrame) -> str:
    """One table per target_keep_users: every configuration and heuristic, all and cold users."""
    s = summarize(res)
    out = []
    for keep in sorted(s.keep.unique(), reverse=True):
        a = s[(s.keep == keep) & (s.segment == "all")].set_index("config")
        c = s[(s.keep == keep) & (s.segment == "cold")].set_index("config")
        out.append(f"\n### target_keep_users = {keep}\n\n"
                   "| config | rel NE % all [95% CI] (seed spread) | rel NE % cold [CI] (spread) | AUC all | AUC cold "
                   "| Recall@10 all | Recall@50 all | Recall@50 cold [CI] (spread) | NDCG@10 cold | coverage@10 |\n"
                   "|---|---|---|---|---|---|---|---|---|---|\n")
        for cfg in a.index:
            ra, rc = a.loc[cfg], c.loc[cfg] if cfg in c.index else pd.Series(dtype=float)

            def rel(r):
                v = r.get("rel_ne_pct", np.nan)
                return "" if not np.isfinite(v) else (f"{v:+.2f} [{r.rel_ne_lo:+.2f}, {r.rel_ne_hi:+.2f}] "
                                                      f"({r.rel_ne_pct_spread:.2f})")
            r50c = (f"{rc.get('recall@50', np.nan):.4f} [{rc.get('recall@50_lo', np.nan):.4f}, "
                    f"{rc.get('recall@50_hi', np.nan):.4f}] ({rc.get('recall@50_spread', np.nan):.4f})")
            out.append(f"| {cfg} | {rel(ra)} | {rel(rc)} | {ra.get('auc', np.nan):.4f} | {rc.get('auc', np.nan):.4f} | "
                       f"{ra.get('recall@10', np.nan):.4f} | {ra.get('recall@50', np.nan):.4f} | {r50c} | "
                       f"{rc.get('ndcg@10', np.nan):.4f} | {ra.get('coverage@10', np.nan):.4f} |\n")
    return "".join(out)


def baseline_vs_heuristics(res: pd.DataFrame) -> str:
    """Per keep x heuristic x segment: AUC of both, and baseline - heuristic for Recall/NDCG@K with the
    paired 95 % CI (a CI above 0 = the baseline wins beyond the user sampling noise)."""
    h = res[(res.study == "heuristic")]
    if not len(h) or "diff_recall@10" not in h:
        return "(no heuristic comparison in these results)\n"
    b = res[(res.config == "baseline") & (res.model == "binary")]
    b_auc = b.groupby(["keep", "segment"]).auc.first()
    lines = ["| keep | heuristic | segment | AUC baseline | AUC heuristic | ΔRecall@10 [CI] | ΔRecall@50 [CI] "
             "| ΔNDCG@10 [CI] |", "|---|---|---|---|---|---|---|---|"]
    for _, r in h[h.segment.isin(["all", "cold"])].sort_values(["keep", "segment", "config"],
                                                               ascending=[False, True, True]).iterrows():
        def d(m):
            return f"{r[f'diff_{m}']:+.4f} [{r[f'diff_{m}_lo']:+.4f}, {r[f'diff_{m}_hi']:+.4f}]"
        lines.append(f"| {r.keep} | {r.config.split(':', 1)[1]} | {r.segment} | "
                     f"{b_auc.get((r.keep, r.segment), np.nan):.4f} | {r.auc:.4f} | {d('recall@10')} | "
                     f"{d('recall@50')} | {d('ndcg@10')} |")
    return "\n".join(lines) + "\n"

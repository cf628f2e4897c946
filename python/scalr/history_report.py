"""Markdown report and PNG plots of the synthetic-histories study (scalr.histories)."""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402


def _fmt(x, d=4):
    return "" if x is None or (isinstance(x, float) and not np.isfinite(x)) else f"{x:.{d}f}"


def arm_table(res: pd.DataFrame, segment: str = "all") -> pd.DataFrame:
    """Mean over seeds per model, the seed spread, and the first seed's bootstrap CI / paired diff."""
    r = res[res.segment == segment]
    rows = []
    for model, g in r.groupby("model", sort=False):
        first = g.iloc[0]
        rows.append({"model": model, "seeds": len(g), "users": int(first.n_users),
                     "recall@10": g.recall_at_10.mean(), "recall@50": g.recall_at_50.mean(),
                     "recall@100": g.recall_at_100.mean(), "recall@100 seed sd": g.recall_at_100.std(ddof=0),
                     "recall@100 CI (seed 1)": f"[{_fmt(first.get('recall_at_100_lo'))}, {_fmt(first.get('recall_at_100_hi'))}]",
                     "diff vs R": g.get("diff_recall_at_100", pd.Series(dtype=float)).mean(),
                     "diff CI (seed 1)": f"[{_fmt(first.get('diff_recall_at_100_lo'))}, {_fmt(first.get('diff_recall_at_100_hi'))}]",
                     "ndcg@10": g.ndcg_at_10.mean(), "head r@100": g.recall_at_100_head.mean(),
                     "tail r@100": g.recall_at_100_tail.mean()})
    return pd.DataFrame(rows)


def md(df: pd.DataFrame) -> str:
    cols = list(df.columns)
    out = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for _, r in df.iterrows():
        out.append("| " + " | ".join(_fmt(v) if isinstance(v, float) else str(v) for v in r) + " |")
    return "\n".join(out)


def write_report(tables: dict, extra: dict | None, out_dir: Path, name: str, config_path: str, runtime: float,
                 stats: dict) -> None:
    res = tables["history_results"]
    lines = [f"# Synthetic histories study: {name}", "",
             f"`python -m scalr.histories {config_path}` ({runtime:.0f} s). Eval: {stats.get('ranking')}, "
             f"{stats.get('eval_users_ranked')} users ({stats.get('eval_cold_users_ranked')} target-cold), "
             f"{stats.get('eval_positive_pairs_ranked')} positives, {stats.get('catalog_items')} items.", ""]
    for seg in ("all", "cold", "warm"):
        t = arm_table(res, seg)
        if len(t) and t.users.iloc[0] > 0:
            lines += [f"## Arms, segment {seg}", "", md(t), ""]
    # plot: recall@100 by arm with CIs
    t = arm_table(res, "all")
    r1 = res[(res.segment == "all")].groupby("model", sort=False).first()
    fig, ax = plt.subplots(figsize=(6, 3.5))
    x = np.arange(len(t))
    lo = (t["recall@100"] - r1.recall_at_100_lo.reindex(t.model).to_numpy()).clip(lower=0)
    hi = (r1.recall_at_100_hi.reindex(t.model).to_numpy() - t["recall@100"]).clip(lower=0)
    ax.bar(x, t["recall@100"], yerr=[lo, hi], capsize=3, color="#4c72b0")
    ax.set_xticks(x, t.model, rotation=20)
    ax.set_ylabel("Recall@100 (95% user-bootstrap CI)")
    fig.tight_layout()
    fig.savefig(out_dir / "recall_by_arm.png", dpi=110)
    plt.close(fig)
    lines += ["![Recall@100 by arm](recall_by_arm.png)", ""]
    if "scaling_results" in tables:
        pts, fits = tables["scaling_results"], tables["scaling_fits"]
        floor = extra["floor"]
        lines += ["## Scaling study (one pass over D walk targets, cosine schedule ending at D)", "",
                  md(pts.drop(columns=["config"])), "", "Fits L(D) = L_inf + A D^-alpha (95 % bootstrap CIs); "
                  "extrapolation: fit without the 2 largest budgets, relative error on them.", "",
                  md(fits.drop(columns=["config"])), "",
                  "Entropy-rate floor of the walk (nats per item): " + ", ".join(f"{k} {v:.4f}" for k, v in floor.items()),
                  ""]
        fig, ax = plt.subplots(1, 2, figsize=(10, 3.8), sharey=False)
        for j, target in enumerate(("real", "synthetic")):
            for mix, g in pts.groupby("mix"):
                g = g.sort_values("D")
                ln = ax[j].plot(g.D, g[f"loss_{target}"], "o", label=mix)[0]
                f = fits[(fits.mix == mix) & (fits["eval"] == target)]
                if len(f) and np.isfinite(f.l_inf.iloc[0]):
                    f = f.iloc[0]
                    d = np.geomspace(g.D.min(), g.D.max() * 4, 100)
                    ax[j].plot(d, f.l_inf + f.a * d ** -f.alpha, "-", color=ln.get_color())
                    band = np.exp(1.96 * float(f.rmse_log))  # residual band in log space
                    mid = f.l_inf + f.a * d ** -f.alpha
                    ax[j].fill_between(d, mid / band, mid * band, color=ln.get_color(), alpha=0.15)
            if target == "synthetic" and "entropy_floor_non_backtracking" in floor:
                ax[j].axhline(floor["entropy_floor_non_backtracking"], ls=":", color="k", label="entropy floor (NB)")
            if np.isfinite(floor.get("entropy_rate_simple_walk", np.nan)) and target == "synthetic":
                ax[j].axhline(floor["entropy_rate_simple_walk"], ls="--", color="grey", label="entropy rate (simple walk)")
            ax[j].set_xscale("log")
            lo_, hi_ = pts[f"loss_{target}"].min(), pts[f"loss_{target}"].max()
            ax[j].set_ylim(min(lo_, floor.get("entropy_floor_non_backtracking", lo_)) * 0.8, hi_ * 1.1)
            ax[j].set_xlabel("D (training targets)")
            ax[j].set_ylabel(f"held-out CE on {target} sequences (nats)")
            ax[j].legend(fontsize=7)
        fig.tight_layout()
        fig.savefig(out_dir / "loss_vs_d.png", dpi=110)
        plt.close(fig)
        lines += ["![loss vs D](loss_vs_d.png)", "", "Band: the fit x exp(+-1.96 rmse_log), the spread of the "
                  "points around it in log space (the parameters' CIs are in the table).", ""]
        vis, deg = extra["visits"], extra["degree"]
        if vis is not None:
            ok = (deg > 0) & (vis > 0)
            fig, ax = plt.subplots(figsize=(4.5, 3.8))
            ax.loglog(deg[ok], vis[ok], ".", ms=3, alpha=0.5)
            slope = np.polyfit(np.log(deg[ok]), np.log(vis[ok]), 1)[0] if ok.sum() > 2 else float("nan")
            ax.set_xlabel("item degree (train users)")
            ax.set_ylabel("walk visits (largest D)")
            ax.set_title(f"log-log slope {slope:.2f}")
            fig.tight_layout()
            fig.savefig(out_dir / "visits_vs_degree.png", dpi=110)
            plt.close(fig)
            lines += [f"![visits vs degree](visits_vs_degree.png) (log-log slope {slope:.2f}; 1 = degree-proportional)", ""]
    (out_dir / "report.md").write_text("\n".join(lines) + "\n")

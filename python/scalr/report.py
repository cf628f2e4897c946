"""Report of the ladder results (written by scalr.experiments): ``report.md`` with PNG plots beside
it, and ``report.html``, one self-contained page (the same text, plots embedded as base64 PNG).

Every comparison is against the target-only arm T of the same seed. A configuration "helps" a
segment only when its paired user-bootstrap CI (first seed) excludes 0 **and** every seed's
difference has the same sign ("hurts" likewise); anything else is "no effect" (inside the CI or
the seed spread). Intervals are shown with their own point: the mean over seeds with the range
over seeds (min to max), and the first seed's difference with its paired 95 % user-bootstrap CI.
Configurations with identical results on every seed and segment are merged into one row and named."""
from __future__ import annotations

import base64
import html
import re
import textwrap
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
        if "synthetic_rows" in g:
            rec["synthetic_rows"] = float(pd.to_numeric(g["synthetic_rows"], errors="coerce").mean())
        for c in SHOW + ["rel_ne_pct", "diff_recall_at_50", "diff_ndcg_at_10", "diff_recall_at_10"]:
            if c in g:
                rec[c] = float(g[c].mean())
        for c in ("rel_ne_pct", "diff_recall_at_50", "diff_ndcg_at_10", "diff_recall_at_10"):
            if c in g:
                rec[c + "_spread"] = float(g[c].max() - g[c].min())
                # the interval of the mean over seeds: the range over seeds (contains the mean)
                rec[c + "_seed_min"], rec[c + "_seed_max"] = float(g[c].min()), float(g[c].max())
                rec[c + "_first"] = float(first.get(c, np.nan))  # the point of the first seed's CI
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


def _interval(r, c: str, d: int) -> str:
    """'mean [min, max over seeds]; first seed Δ [95 % CI]' of column c: each interval beside its own point."""
    if not np.isfinite(r.get(c, np.nan)):
        return ""
    lo, hi = ("rel_ne_lo", "rel_ne_hi") if c == "rel_ne_pct" else (c + "_lo", c + "_hi")
    out = f"{_f(r[c], d, True)} [{_f(r.get(c + '_seed_min'), d, True)}, {_f(r.get(c + '_seed_max'), d, True)}]"
    if np.isfinite(r.get(lo, np.nan)):
        out += f"; {_f(r.get(c + '_first'), d, True)} [{_f(r.get(lo), d, True)}, {_f(r.get(hi), d, True)}]"
    return out


def identical_configs(res: pd.DataFrame, keep: float, model: str = "binary") -> list[list[str]]:
    """Groups (size > 1) of configurations whose results are identical on every seed and segment
    (Recall@10/50/100, NDCG@10, NE): the same training rows under two names."""
    r = res[(res.keep == keep) & (res.model == model)]
    cols = [c for c in ("recall_at_10", "recall_at_50", "recall_at_100", "ndcg_at_10", "ne") if c in r]
    prints: dict[tuple, list[str]] = {}
    for config, g in r.groupby("config", sort=False):
        g = g.sort_values(["seed", "segment"])
        key = tuple(g.seed) + tuple(g.segment) + tuple(np.round(g[cols].to_numpy(float), 10).ravel().tolist())
        prints.setdefault(key, []).append(config)
    return [v for v in prints.values() if len(v) > 1]


def merge_identical(s: pd.DataFrame, groups: list[list[str]]) -> pd.DataFrame:
    """One row per group of identical configurations, named 'a = b = c'."""
    s = s.copy()
    for grp in groups:
        s.loc[s.config == grp[0], "config"] = " = ".join(grp)
        s = s[~s.config.isin(grp[1:])]
    return s


LADDER_HEAD = ("| config | segment | users | Recall@10 | Recall@50 | Recall@100 | NDCG@10 | coverage@50 | "
               "ΔRecall@50 vs T: mean [range over seeds]; first seed [paired 95 % CI] | verdict R@50 | NE | "
               "rel NE % vs T: mean [range over seeds]; first seed [paired 95 % CI] | verdict NE |\n"
               "|---|---|---|---|---|---|---|---|---|---|---|---|---|\n")


def ladder_table(s: pd.DataFrame, keep: float, configs: list[str] | None = None) -> str:
    t = s[s.keep == keep]
    if configs is not None:
        t = t[t.config.isin(configs)]
    lines = []
    for _, r in t.iterrows():
        is_t = r.config == "T"
        d = "" if is_t else _interval(r, "diff_recall_at_50", 4)
        rel = "" if is_t else _interval(r, "rel_ne_pct", 2)
        lines.append(f"| {r.config} | {r.segment} | {int(r.n_users) if np.isfinite(r.n_users) else ''} | "
                     f"{_f(r.get('recall_at_10'))} | {_f(r.get('recall_at_50'))} | {_f(r.get('recall_at_100'))} | "
                     f"{_f(r.get('ndcg_at_10'))} | {_f(r.get('coverage_at_50'))} | {d} | "
                     f"{'' if is_t else r.verdict_recall_at_50} | {_f(r.get('ne'))} | {rel} | "
                     f"{'' if is_t else r.verdict_ne} |")
    return LADDER_HEAD + "\n".join(lines) + "\n"


def _wrap(label: str, width: int = 22) -> str:
    return "\n".join(textwrap.wrap(label, width, break_on_hyphens=False)) or label


DIFF_PLOTS = (("diff_recall_at_50", "ΔRecall@50 vs T (absolute: share of held-out positives)", 1.0),
              ("rel_ne_pct", "rel NE vs T (%; negative is better)", 1.0))


def figures(s: pd.DataFrame, keep: float) -> list[tuple[str, plt.Figure]]:
    """(file name, figure) of every plot of one keep: the differences to T per configuration
    (Recall@50 and NE: mean over seeds with the range over seeds, and the first seed with its
    paired 95 % CI), and the curves over lambda and synthetic volume with a band over seeds."""
    out = []
    t = s[(s.keep == keep) & (s.config != "T") & ~s.config.str.startswith("heuristic")]
    configs = list(dict.fromkeys(t.config))
    if configs:
        for col, xlabel, _ in DIFF_PLOTS:
            lo_c, hi_c = ("rel_ne_lo", "rel_ne_hi") if col == "rel_ne_pct" else (col + "_lo", col + "_hi")
            n = len(configs)
            lines = max(_wrap(c).count("\n") + 1 for c in configs)  # rows of the longest wrapped label
            fig, axes = plt.subplots(1, 2, figsize=(13, max(3.2, 0.42 * n * (0.4 + 0.6 * lines) + 1.8)), sharey=True)
            for ax, seg in zip(axes, ("all", "cold")):
                u = t[t.segment == seg].set_index("config").reindex(configs)
                y = np.arange(n)
                mean, mn, mx = u[col], u[col + "_seed_min"], u[col + "_seed_max"]
                err = [(mean - mn).clip(lower=0).fillna(0), (mx - mean).clip(lower=0).fillna(0)]
                ax.errorbar(mean, y - 0.15, xerr=err, fmt="o", capsize=3, color="C0",
                            label="mean over seeds, bar: range over seeds")
                first, lo, hi = u[col + "_first"], u[lo_c], u[hi_c]
                ok = first.notna() & lo.notna()
                err = [(first - lo)[ok].clip(lower=0), (hi - first)[ok].clip(lower=0)]
                ax.errorbar(first[ok], y[ok.to_numpy()] + 0.15, xerr=err, fmt="s", capsize=3, color="C1",
                            label="first seed, bar: paired 95 % user-bootstrap CI")
                ax.axvline(0, color="grey", lw=1)
                ax.set_yticks(y, [_wrap(c) for c in configs], fontsize=8)
                ax.set_ylim(n - 0.5, -0.5)
                ax.set_xlabel(xlabel)
                ax.set_title(f"{seg} users, target_keep_users {keep}")
                ax.grid(axis="x", alpha=0.3)
            axes[0].set_ylabel("configuration (arm:study variant)")
            handles, labels = axes[0].get_legend_handles_labels()
            legend_h = 0.45 / fig.get_figheight()  # the legend's share of the figure height
            fig.legend(handles, labels, loc="lower center", ncol=2, fontsize=8, frameon=False)
            fig.tight_layout(rect=(0, legend_h, 1, 1))
            out.append((f"{col}_keep{keep}.png", fig))
    for prefix, xlabel, xcol, logx in (("lambda", "λ: weight of a synthetic row relative to a real row (unitless)",
                                        "lambda", False),
                                       ("volume", "synthetic training rows after alignment (count, log scale)",
                                        "synthetic_rows", True)):
        base = t.config.str.split(" = ").str[0]  # a merged row 'a = b' stands at a's point
        pts = t[base.str.match(rf"T\+S:{prefix}_[0-9.]+$") | (base == "T+S")].assign(base=base)
        if pts.base.str.startswith("T+S:").sum() == 0:
            continue
        if xcol == "lambda":
            pts["x"] = pts.base.str.extract(r"_([0-9.]+)$")[0].astype(float)
            pts.loc[pts.base == "T+S", "x"] = pts.get("synthetic_lambda", pd.Series(np.nan, index=pts.index))
        else:
            pts["x"] = pts.get("synthetic_rows", pd.Series(np.nan, index=pts.index))
        pts = pts[np.isfinite(pts.x.astype(float))]
        if pts.x.nunique() < 2:
            continue
        fig, axes = plt.subplots(1, 2, figsize=(12, 4.2))
        for ax, seg in zip(axes, ("all", "cold")):
            u = pts[pts.segment == seg].sort_values("x")
            ax.fill_between(u.x, u.diff_recall_at_50_seed_min, u.diff_recall_at_50_seed_max, alpha=0.25, color="C0",
                            label="range over seeds")
            ax.plot(u.x, u.diff_recall_at_50, "o-", color="C0", label="mean over seeds")
            ax.axhline(0, color="grey", lw=1, label="T (target only)")
            if logx:
                ax.set_xscale("log")
            ax.set_xlabel(xlabel)
            ax.set_ylabel("ΔRecall@50 vs T (absolute)")
            ax.set_title(f"T+S over {prefix}: {seg} users, target_keep_users {keep}", fontsize=10)
            ax.grid(alpha=0.3)
        axes[0].legend(fontsize=8)
        fig.tight_layout()
        out.append((f"curve_{prefix}_keep{keep}.png", fig))
    return out


def plot(s: pd.DataFrame, keep: float, out: Path) -> list[str]:
    """Save the figures of one keep as PNG in ``out``; their file names."""
    names = []
    for name, fig in figures(s, keep):
        fig.savefig(out / name, dpi=110)
        plt.close(fig)
        names.append(name)
    return names


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


def help_table(h: pd.DataFrame) -> str:
    """The help_diagnostic mart of one build: held-out overlap users, each scorer's Recall@50 and
    its paired lift over popularity with the 95 % user-bootstrap CI, and the overall answer."""
    from scalr.help_diagnostic import overall
    lines = ["| scorer | Recall@50 [95% CI] | lift over popularity [95% CI] | relative | verdict |",
             "|---|---|---|---|---|"]
    for r in h.itertuples():
        rel = f"{r.rel_lift_pct:+.0f} %" if r.scorer != "popularity" and np.isfinite(r.rel_lift_pct) else ""
        lift = f"{r.lift_vs_popularity:+.4f} [{r.lift_lo:+.4f}, {r.lift_hi:+.4f}]" if r.scorer != "popularity" else ""
        lines.append(f"| {r.scorer} | {r.recall:.4f} [{r.recall_lo:.4f}, {r.recall_hi:.4f}] | {lift} | {rel} | {r.verdict} |")
    n = int(h.n_users.iloc[0]) if len(h) else 0
    return (f"Held-out overlap users: {n}, ranked as if target-cold on their real target train positives "
            "(full catalog; model `help_diagnostic`).\n\n" + "\n".join(lines)
            + f"\n\n**Will it help?** {overall(h)}.\n")


def _identical_note(s: pd.DataFrame, groups: list[list[str]]) -> str:
    def rows(config: str) -> str:
        n = s[s.config == config].synthetic_rows.mean() if "synthetic_rows" in s else np.nan
        return f" ({int(n)} synthetic rows)" if np.isfinite(n) else ""
    return ("\nIdentical results on every seed and segment, merged below as 'a = b' (the same training rows under "
            "two names, e.g. a volume above what the value buckets allow is capped at the same maximum): "
            + "; ".join(" = ".join(g) + rows(g[0]) for g in groups) + ".\n")


def write_report(res: pd.DataFrame, dec: pd.DataFrame, aud: pd.DataFrame, splits: pd.DataFrame, out: Path,
                 name: str, config_path: str, runtime: float, synthetic_lambda: float | None = None,
                 help_diag: pd.DataFrame | None = None) -> Path:
    """Write ``report.md`` (+ PNGs) and the self-contained ``report.html`` into ``out``; returns the
    Markdown path. ``synthetic_lambda``: λ of the default T+S (the point of T+S on the λ curve);
    ``help_diag``: the help_diagnostic mart of each build (column keep), reported before the ladder."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    s = summarize(res)
    s["synthetic_lambda"] = np.where(s.config == "T+S", np.nan if synthetic_lambda is None else synthetic_lambda,
                                     np.nan)
    parts = [f"# scalr experiments: {name}\n",
             f"`python -m scalr.experiments {config_path}` ({runtime:.0f} s). Every comparison is against **T** "
             "(target only: no feature reads a source event, P̂ or a synthetic event), paired by user, per seed. "
             "'helps' / 'hurts': the paired 95 % user-bootstrap CI (first seed) excludes 0 and every seed's "
             "difference has the same sign; otherwise 'no effect'. Intervals: the mean over seeds with the range over "
             "seeds [min, max], then the first seed's difference with its own paired 95 % CI. Ranking: full catalog "
             "(every train-catalog item but the user's own train items).\n"]
    for keep in sorted(res.keep.unique(), reverse=True):
        sp = splits[splits.keep == keep].iloc[0].to_dict() if len(splits) and "keep" in splits else {}
        parts.append(f"\n## target_keep_users {keep}\n")
        parts.append("Evaluation set: " + ", ".join(f"{k} {v}" for k, v in sp.items() if k != "keep") + ".\n")
        if help_diag is not None and len(help_diag) and (help_diag.keep == keep).any():
            parts.append("\n### Will it help? Before any training (help_diagnostic)\n\n"
                         + help_table(help_diag[help_diag.keep == keep]))
        parts.append("\n### Will it help? Recall@50 without LightGBM on the eval users (lift over popularity)\n\n"
                     + diagnostic(res, keep))
        groups = identical_configs(res, keep)
        sk = merge_identical(s[s.keep == keep], groups)
        if groups:
            parts.append(_identical_note(s[s.keep == keep], groups))
        names = list(dict.fromkeys(sk.config))
        ladder = [c for c in names if c.split(" = ")[0] in ("T", "T+F", "T+S", "T+F+S")]
        heur = sorted(c for c in names if c.startswith("heuristic:"))
        parts.append("\n### The ladder (binary LightGBM, mean over seeds)\n\n" + ladder_table(sk, keep, ladder + heur))
        studies = [c for c in names if c.startswith("T+S:")]
        ctrl = [c for c in studies if c.split(" = ")[0].split(":", 1)[1] in ("oracle", "shuffled")]
        other = [c for c in studies if c not in ctrl]
        ts = [c for c in ladder if c.split(" = ")[0] == "T+S"]
        if ctrl:
            parts.append("\n### Controls\n\n" + ladder_table(sk, keep, ts + ctrl))
        if other:
            parts.append("\n### Generator studies (T+S under each variant)\n\n"
                         + ladder_table(sk[sk.segment != "warm"], keep, ts + other))
        for png in plot(sk, keep, out):
            parts.append(f"\n![{png.removesuffix('.png').replace('_', ' ')}]({png})\n")
        parts.append("\n### Recall@50 by item-popularity decile (all users; d10 = the 10 % most popular items)\n\n"
                     + decile_table(dec, keep, [c for c in ["T", "T+F", "T+S", "T+F+S", "heuristic:popularity"]
                                                if c in set(dec.config)]))
        if len(aud):
            a = aud[(aud.keep == keep) & aud.purged]
            purged = a.groupby("config").feature.apply(lambda x: ", ".join(x)).to_dict()
            parts.append("\nLeak audit, features flagged (masked on synthetic rows with purge_mode mask, dropped with "
                         "drop): " + ("; ".join(f"{k}: {v}" for k, v in purged.items()) or "none") + ".\n")
    md = "".join(parts)
    path = out / "report.md"
    path.write_text(md)
    (out / "report.html").write_text(to_html(md, out, f"scalr experiments: {name}"))
    return path


_CSS = """body{font-family:system-ui,sans-serif;margin:2em auto;max-width:1400px;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:1em 0;font-size:13px}th,td{border:1px solid #ccc;padding:3px 6px;text-align:right}
th{background:#f3f3f3}td:first-child,td:nth-child(2){text-align:left}img{max-width:100%;display:block;margin:1em 0}
code{background:#f3f3f3;padding:0 3px}"""


def _inline(text: str) -> str:
    t = html.escape(text, quote=False)
    t = re.sub(r"`([^`]+)`", r"<code>\1</code>", t)
    return re.sub(r"\*\*([^*]+)\*\*", r"<strong>\1</strong>", t)


def to_html(md: str, image_dir: Path, title: str) -> str:
    """The report's Markdown as one self-contained HTML page: headings, paragraphs, tables, and each
    image embedded as a base64 PNG (no file beside the page is needed)."""
    body, table = [], []

    def flush():
        if table:
            rows = [[c.strip() for c in r.strip().strip("|").split("|")] for r in table
                    if not re.fullmatch(r"\|?[-| :]+\|?", r.strip())]
            head, rest = rows[0], rows[1:]
            body.append("<table><thead><tr>" + "".join(f"<th>{_inline(c)}</th>" for c in head) + "</tr></thead><tbody>"
                        + "".join("<tr>" + "".join(f"<td>{_inline(c)}</td>" for c in r) + "</tr>" for r in rest)
                        + "</tbody></table>")
            table.clear()

    for line in md.splitlines():
        if line.startswith("|"):
            table.append(line)
            continue
        flush()
        if not line.strip():
            continue
        if m := re.fullmatch(r"(#{1,6}) (.*)", line):
            n = len(m.group(1))
            body.append(f"<h{n}>{_inline(m.group(2))}</h{n}>")
        elif m := re.fullmatch(r"!\[([^]]*)\]\(([^)]+)\)", line.strip()):
            data = base64.b64encode((Path(image_dir) / m.group(2)).read_bytes()).decode()
            body.append(f'<figure><img alt="{html.escape(m.group(1))}" src="data:image/png;base64,{data}">'
                        f"<figcaption>{html.escape(m.group(1))}</figcaption></figure>")
        else:
            body.append(f"<p>{_inline(line)}</p>")
    flush()
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
            f"<style>{_CSS}</style></head><body>\n" + "\n".join(body) + "\n</body></html>\n")

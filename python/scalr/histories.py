"""One-command synthetic-histories study (issue 15): ``python -m scalr.histories CONFIG``.

1. ``dbt build`` (the config's vars over dbt_project.yml's) of the eval events, SCALR's
   synthetic_events_aligned and the random-walk mart synthetic_histories.
2. Arms (scalr.history_data): SASRec trained on R (real target histories), S (walks), R+S and
   R+SCALR (real + SCALR synthetic target events merged by time), every arm under the same token
   budget (``train.token_budget`` targets at most, early stopping on the real validation slice),
   ``seeds`` seeds; popularity and item-item (cosine) baselines; all evaluated by full-catalog
   ranking of the held-out real eval-window items (scalr.ladder.EvalSet, scalr.sasrec.evaluate),
   paired user bootstrap against R of the same seed.
3. The scaling study (scalr.history_scaling), unless ``scaling: null``.

Writes DuckDB tables history_results, scaling_results, scaling_fits and
``reports/<name>/report.md`` with PNG plots; one progress line per trained model.
"""
from __future__ import annotations

import argparse
import dataclasses
import time
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import scipy.sparse as sp
import yaml

from scalr import history_data as hd
from scalr import history_scaling as hs
from scalr import ladder as la
from scalr.experiments import BUILD_SELECT, PROJECT, project_vars, run_dbt
from scalr.sasrec import evaluate as se
from scalr.sasrec import train as tr
from scalr.sasrec.data import last_window
from scalr.sasrec.model import ModelConfig

ARMS = ("R", "S", "R+S", "R+SCALR")
REFERENCE = "R"


def log(msg: str) -> None:
    print(f"[scalr.histories {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def train_config(c: dict | None) -> tr.TrainConfig:
    c = dict(c or {})
    m = ModelConfig(**c.pop("model", {}))
    return tr.TrainConfig(model=m, **c)


def item_item_scorer(real, es):
    """Cosine item-item: score(u, j) = sum over u's train items i of cos(i, j) (real positives)."""
    nu, ni = len(es.users), len(es.items)
    x = sp.csr_matrix((np.ones(len(real)), (real.u.to_numpy(), real.i.to_numpy())), shape=(nu, ni))
    x.data[:] = 1.0
    x.sum_duplicates()
    x.data[:] = 1.0
    deg = np.asarray(x.sum(0)).ravel()
    xn = x @ sp.diags(1.0 / np.sqrt(np.maximum(deg, 1)))
    xnt = xn.T.tocsr()

    def score(rows):
        xu = xn[es.eval_users[rows]]
        return np.asarray(((xu @ xnt) @ xn).todense())
    return score


def run(config_path: str) -> dict:
    cfg = yaml.safe_load(Path(config_path).read_text())
    name = cfg.get("name", Path(config_path).stem)
    out_dir = Path(cfg.get("report_dir", f"reports/{name}"))
    out_dir = out_dir if out_dir.is_absolute() else PROJECT / out_dir
    out_dir.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    v = {**project_vars(), **cfg.get("vars", {})}
    db = run_dbt(v, out_dir / "work", BUILD_SELECT + " +synthetic_histories")
    with duckdb.connect(str(db), read_only=True) as con:
        data = la.BuildData.from_db(con, pd.Timestamp(str(v["train_end"])))
        walks = con.sql("select walk_id, position, item_id from synthetic_histories where domain = ? "
                        "order by walk_id, position", params=[str(v["target_domain"])]).df()
    return study(data, walks, cfg, out_dir, name, config_path, t0)


def study(data: la.BuildData, walks: pd.DataFrame, cfg: dict, out_dir: Path, name: str = "study",
          config_path: str = "", t0: float | None = None) -> dict:
    """Arms, baselines and the scaling study on the marts of one build (``data``, ``walks``: the
    synthetic_histories rows of the target domain); writes the tables and the report."""
    t0 = time.time() if t0 is None else t0
    out_dir.mkdir(parents=True, exist_ok=True)
    seeds = tuple(int(s) for s in cfg.get("seeds", [0, 1, 2]))
    n_boot = int(cfg.get("n_boot", 200))
    es = la.EvalSet(data, la.LadderConfig(seeds=seeds, eval_max_pairs=int(cfg.get("eval_max_pairs", 10_000_000))))
    tcfg = train_config(cfg.get("train"))
    ad = hd.build(es, data.target_train, data.synthetic, walks, tcfg.model.max_len,
                  float(cfg.get("val_fraction", 0.1)), seed=0)
    real = hd.real_rows(es, data.target_train)
    log(f"{len(es.users)} users, {len(es.items)} items, {len(es.eval_users)} eval users "
        f"({int((es.segment == 'cold').sum())} target-cold), {len(ad.val[0])} validation users; train targets: "
        + ", ".join(f"{a} {h.n_tokens}" for a, h in ad.train.items()))
    arms = [a for a in cfg.get("arms", ARMS)]
    results, per_ref = [], {}
    ni = len(es.items)
    for seed in seeds:
        for arm in arms:
            h = ad.train[arm]
            t = time.time()
            res = tr.train(h, ni, dataclasses.replace(tcfg, seed=seed), val=ad.val)
            tokens = last_window(ad.eval_input[arm].take(es.eval_users), tcfg.model.max_len)
            r = se.ranks(lambda rows: tr.score(res.model, tokens[rows]), es)
            m, per = se.summarize(es, r, per_ref.get(seed), n_boot=n_boot, seed=seed)
            if arm == REFERENCE:
                per_ref[seed] = per
            results.append(m.assign(model=arm, kind="sasrec", seed=seed, train_targets=h.n_tokens,
                                    tokens_seen=res.tokens_seen, best_val_loss=res.best_val_loss,
                                    train_s=time.time() - t))
            a = m[m.segment == "all"].iloc[0]
            log(f"arm {arm} seed {seed}: {res.tokens_seen} tokens, val loss {res.best_val_loss:.4f}, "
                f"Recall@100 {a.recall_at_100:.4f} ({time.time() - t:.0f}s)")
    pop = np.bincount(real.i.to_numpy(), minlength=ni).astype(float)
    for bname, fn in (("popularity", lambda rows: np.broadcast_to(pop, (len(rows), ni))),
                      ("item_item", item_item_scorer(real, es))):
        r = se.ranks(fn, es)
        m, _ = se.summarize(es, r, per_ref.get(seeds[0]), n_boot=n_boot, seed=seeds[0])
        results.append(m.assign(model=bname, kind="baseline", seed=-1))
        log(f"baseline {bname}: Recall@100 {m[m.segment == 'all'].recall_at_100.iloc[0]:.4f}")
    res_df = pd.concat(results, ignore_index=True).assign(config=name)
    tables = {"history_results": res_df}
    extra = None
    if cfg.get("scaling", {}) is not None:
        scfg = hs.ScalingConfig(**{k: (tuple(x) if isinstance(x, list) else x)
                                   for k, x in (cfg.get("scaling") or {}).items()})
        stcfg = train_config({**(cfg.get("train") or {}), **(cfg.get("scaling_train") or {})})
        pts, fits, extra = hs.run(real, ad.eval_input["R"], ni, scfg, stcfg, log=log)
        for k, x in extra["floor"].items():
            fits[k] = x
        tables["scaling_results"] = pts.assign(config=name)
        tables["scaling_fits"] = fits.assign(config=name)
    runtime = time.time() - t0
    res_db = Path(cfg.get("results_db", out_dir / "histories.duckdb"))
    res_db = res_db if res_db.is_absolute() else PROJECT / res_db
    with duckdb.connect(str(res_db)) as con:
        for tname, frame in tables.items():
            con.register("f", frame)
            con.sql(f"create or replace table {tname} as select * from f")
            con.unregister("f")
    from scalr.history_report import write_report
    write_report(tables, extra, out_dir, name, config_path, runtime, es.stats)
    log(f"done in {runtime:.0f}s -> {res_db} (history_results, scaling_results, scaling_fits), "
        f"report {out_dir / 'report.md'}")
    return tables


def main(argv: list[str] | None = None, prog: str = "python -m scalr.histories") -> None:
    ap = argparse.ArgumentParser(prog=prog, description=__doc__.splitlines()[0])
    ap.add_argument("config", help="an experiments/histories_*.yml file")
    config = ap.parse_args(argv).config
    if not Path(config).is_file():
        ap.error(f"config file {config!r} not found")
    run(config)


if __name__ == "__main__":
    main()

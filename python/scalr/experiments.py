"""One-command SCALR study: ``python -m scalr.experiments experiments/food_kitchen.yml``.

For each ``target_keep_users`` fraction the same dbt models build the data (``dbt build`` of
translation, synthetic_events_aligned and the eval events, with the config's vars and
target_keep_users applied upstream in SQL), then ``scalr.ladder`` trains and evaluates the ladder
against the target-only arm T:

  ladder   T, T+F (feature-level transfer), T+S (synthetic rows: SCALR's comparison), T+F+S, heuristics
  studies  T+S under generator variants (RQ1 top-1, RQ2 volume up to no downsampling, RQ3 alignment,
           draws per event K at weight 1/K, lambda, confidence / min support / shrinkage)
  controls on a world the project generated: T+S with the planted translation (oracle, the
           ceiling) and with user-shuffled synthetic events (must not help)

Variants sample from the build's `translation` mart through the same library calls as the dbt
models (scalr.generators); a variant that changes a translation var gets its own dbt build.
Writes DuckDB tables ``experiment_results`` (one row per keep x config x model x seed x segment;
the same metric columns as the mart model_metrics), ``experiment_deciles``, ``leak_audit_results``,
``experiment_splits``, ``reports/<name>/report.md`` and ``report.html`` (one self-contained page).
"""
from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import yaml

from scalr import generators as gen
from scalr import ladder as la

PROJECT = Path(__file__).resolve().parents[2]
TRANSLATION_VARS = ("min_support", "max_targets_per_source", "max_items_per_user", "translation_shrinkage",
                    "count_noise_epsilon", "noise_seed")

# name -> (study, overrides): keys of scalr.generators.GeneratorConfig, "lambda" (synthetic_lambda),
# "purge_threshold", or "vars" (dbt vars of the translation: the variant gets its own dbt build)
STUDIES: dict[str, tuple[str, dict]] = {
    "top1": ("RQ1 top-1 vs sampling", {"strategy": "topk", "k": 1}),
    "volume_0.5": ("RQ2 volume", {"ratio": 0.5}),
    "volume_1": ("RQ2 volume", {"ratio": 1.0}),
    "volume_4": ("RQ2 volume", {"ratio": 4.0}),
    "align_none": ("RQ2 volume", {"alignment": "none"}),
    "align_uniform": ("RQ3 alignment", {"alignment": "uniform_positive"}),
    "align_positive_negative": ("RQ3 alignment", {"alignment": "positive_negative"}),
    "k1": ("draws per event", {"k": 1}),
    "k10_per_draw": ("draws per event", {"k": 10, "per_draw_weight": True, "ratio": 4.0}),
    "k10_per_draw_none": ("draws per event", {"k": 10, "per_draw_weight": True, "alignment": "none"}),
    "per_user_5": ("per-user volume", {"build": {"source_events_per_user": 5}}),
    "per_user_20": ("per-user volume", {"build": {"source_events_per_user": 20}}),
    "lambda_0.3": ("lambda", {"lambda": 0.3}),
    "lambda_3": ("lambda", {"lambda": 3.0}),
    "no_purge": ("RQ4 purge", {"purge_threshold": None}),
    "purge_mask": ("RQ4 purge", {"purge_mode": "mask"}),
    "purge_drop": ("RQ4 purge", {"purge_mode": "drop"}),
    "confidence_0.1": ("RQ4 confidence", {"min_confidence": 0.1}),
    "min_support_2": ("RQ4 support", {"vars": {"min_support": 2}}),
    "shrinkage_5": ("RQ4 shrinkage", {"vars": {"translation_shrinkage": 5}}),
    "noise_eps_1": ("privacy", {"vars": {"count_noise_epsilon": 1.0}}),
    "noise_eps_0.2": ("privacy", {"vars": {"count_noise_epsilon": 0.2}}),
    # model-based generation (README "Model-based generation"): "build" = dbt vars of a variant whose
    # synthetic events the dbt models themselves make (its own build of +synthetic_events_aligned)
    "model": ("model-based generation", {"build": {"generator": "model"}}),
    "model_tau_0.01": ("model-based generation", {"build": {"generator": "model", "model_temperature": 0.01}}),
    "model_tau_0.03": ("model-based generation", {"build": {"generator": "model", "model_temperature": 0.03}}),
    "model_tau_0.3": ("model-based generation", {"build": {"generator": "model", "model_temperature": 0.3}}),
    "model_tau_1": ("model-based generation", {"build": {"generator": "model", "model_temperature": 1.0}}),
    "model_top1": ("model-based generation", {"build": {"generator": "model", "model_temperature": 0,
                                                        "synthetic_k": 1}}),
    "model_no_explore": ("model-based generation", {"build": {"generator": "model", "model_explore": 0}}),
}


def log(msg: str) -> None:
    print(f"[scalr.experiments {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def project_vars() -> dict:
    """The vars of dbt_project.yml: the one place every default is defined."""
    return yaml.safe_load((PROJECT / "dbt_project.yml").read_text())["vars"]


def generator_config(v: dict) -> gen.GeneratorConfig:
    """GeneratorConfig from dbt vars (project defaults overridden by the build's vars)."""
    return gen.GeneratorConfig(
        k=int(v["synthetic_k"]), strategy=str(v["synthetic_strategy"]), temperature=float(v["synthetic_temperature"]),
        top_p=float(v["synthetic_top_p"]), seed=int(v["synthetic_seed"]), confidence_weight=str(v["confidence_weight"]),
        min_confidence=float(v["min_confidence"]), user_weight_alpha=float(v["user_weight_alpha"]),
        alignment=str(v["alignment"]), value_buckets=int(v["value_buckets"]),
        ratio=None if v["synthetic_ratio"] is None else float(v["synthetic_ratio"]),
        leave_self_out=bool(v["leave_self_out"]))


def ladder_config(v: dict, overrides: dict | None = None) -> la.LadderConfig:
    """LadderConfig from dbt vars (the vars model_metrics reads) plus the config file's ``ladder:``."""
    c = la.LadderConfig(
        seeds=tuple(int(s) for s in v["training_seeds"]), negatives_per_positive=int(v["negatives_per_positive"]),
        negative_sampler=str(v["negative_sampler"]), training_seed=int(v["training_seed"]),
        synthetic_lambda=float(v["synthetic_lambda"]), purge_features=tuple(v["purge_features"] or ()),
        purge_threshold=None if v["purge_threshold"] is None else float(v["purge_threshold"]),
        train_recent_fraction=float(v["train_recent_fraction"]), eval_negatives=str(v["eval_negatives"]),
        eval_max_pairs=int(v["eval_max_pairs"]), purge_mode=str(v["purge_mode"]),
        mf=la.ln.factor_config(v["mf_factors"], v["mf_regularization"], v["mf_alpha"], v["mf_iterations"], v["mf_seed"]),
        mf_train_fraction=float(v["mf_train_fraction"]))
    return dataclasses.replace(c, **(overrides or {}))


def run_dbt(v: dict, work: Path, select: str) -> Path:
    work.mkdir(parents=True, exist_ok=True)
    db = work / "scalr.duckdb"
    env = dict(os.environ, SCALR_DB=str(db), SCALR_TEMP_DIR=str(work / "tmp"), DBT_PROFILES_DIR=str(PROJECT))
    dbt = str(Path(sys.executable).with_name("dbt"))
    cmd = [dbt, "build", "--project-dir", str(PROJECT), "--target-path", str(work / "target"),
           "--log-path", str(work / "logs"), "--select", select, "--vars", json.dumps({**v, "publish_marts": False})]
    t = time.time()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=PROJECT)
    if proc.returncode != 0:
        sys.stderr.write(proc.stdout[-5000:] + proc.stderr[-3000:])
        raise SystemExit(f"dbt build failed (rc {proc.returncode})")
    log(f"dbt build --select {select} done in {time.time() - t:.1f}s -> {db}")
    return db


CONFIG_KEYS = {"name", "vars", "target_keep_users", "studies", "grid", "controls", "ladder", "report_dir", "results_db"}
GRID_KEYS = ("k", "per_draw_weight", "lambda", "alignment", "ratio")  # GeneratorConfig fields + lambda


def grid_studies(grid: dict | None) -> list[tuple[str, str, dict]]:
    """The joint sweep of a config's ``grid:`` (e.g. k: [1, 10], lambda: [0.3, 1, 3], alignment:
    [bucket, none]): one T+S variant per combination, named ``grid:k=1,lambda=0.3,...`` in the
    grid's key order, as (name, study, overrides)."""
    if not grid:
        return []
    bad = set(grid) - set(GRID_KEYS)
    if bad:
        raise ValueError(f"grid keys {sorted(bad)} are not sweepable; known: {list(GRID_KEYS)}")
    keys = list(grid)
    if not all(isinstance(grid[k], list) and grid[k] for k in keys):
        raise ValueError("every grid key needs a non-empty list of values")
    out = []
    for combo in itertools.product(*(grid[k] for k in keys)):
        over = dict(zip(keys, combo))
        out.append(("grid:" + ",".join(f"{k}={v}" for k, v in over.items()), "joint sweep", over))
    return out
BUILD_SELECT = ("+translation +synthetic_events_aligned +int_target_eval_events +int_target_item_values +help_diagnostic "
                "+training_translation +training_synthetic_events_aligned")


def slice_free(target_train: pd.DataFrame) -> pd.DataFrame:
    """The real target train events outside the early-stopping slice (what the training fit aligns to)."""
    if "is_validation" not in target_train:
        return target_train
    return target_train[~target_train.is_validation.to_numpy(bool)]


def generators_for(cfg: dict, v: dict, data: la.BuildData, work: Path) -> list[la.Generator]:
    base = generator_config(v)
    # two fits (README "The early-stopping slice and P_hat"): every variant's training rows come from
    # the training fit (P_hat without the early-stopping slice), its evaluation features from the whole window
    out = [la.Generator("default", data.synthetic, "ladder", ("T+S", "T+F+S"),
                        {"synthetic_rows": len(data.synthetic)}, train_synthetic=data.train_synthetic)]
    wanted = [(n, *STUDIES[n]) for n in cfg.get("studies", list(STUDIES))] + grid_studies(cfg.get("grid"))
    for name, study, over in wanted:
        over = dict(over)
        bvars = over.pop("build", None)
        if bvars:
            # generator = model has no training fit (training_synthetic_events stops the build): its
            # whole-window events serve the training rows too (README "The early-stopping slice and P_hat")
            fit2 = bvars.get("generator", v.get("generator", "frequency")) == "frequency"
            db = run_dbt({**v, **bvars}, work / name,
                         "+synthetic_events_aligned" + (" +training_synthetic_events_aligned" if fit2 else ""))
            with duckdb.connect(str(db), read_only=True) as con:
                syn = con.sql("select * from synthetic_events_aligned order by user_id, source_item, event_ts, draw").df()
                raw = con.sql("select count(*) from synthetic_events").fetchall()[0][0]
                tsyn = con.sql("select * from training_synthetic_events_aligned "
                               "order by user_id, source_item, event_ts, draw").df() if fit2 else None
            out.append(la.Generator(name, syn, study, ("T+S",), {"synthetic_rows_raw": int(raw),
                                                                  "synthetic_rows": len(syn)}, train_synthetic=tsyn))
            continue
        tvars = over.pop("vars", None)
        lam = over.pop("lambda", None)
        purge = over.pop("purge_threshold", "unset")
        mode = over.pop("purge_mode", None)
        translation, user_items = data.translation, data.user_items
        train_translation, train_user_items = data.train_translation, data.train_user_items
        if tvars:
            db = run_dbt({**v, **tvars}, work / name, "+translation +training_translation")
            with duckdb.connect(str(db), read_only=True) as con:
                translation = con.sql("select * from translation order by source_domain, source_item, target_rank").df()
                user_items = con.sql("select user_id, domain, domain_role, item_id from int_user_items "
                                     "order by user_id, domain, item_id").df()
                train_translation = con.sql("select * from training_translation "
                                            "order by source_domain, source_item, target_rank").df()
                train_user_items = con.sql("select user_id, domain, domain_role, item_id from int_training_user_items "
                                           "order by user_id, domain, item_id").df()
        gcfg = dataclasses.replace(base, **over)
        syn, info = gen.synthesize(translation, data.source_train, data.target_train, data.item_values, gcfg,
                                   user_items)
        tsyn = None
        if train_translation is not None:  # the same generator on the training fit's P_hat
            tsyn, _ = gen.synthesize(train_translation, data.source_train, slice_free(data.target_train),
                                     data.item_values, gcfg, train_user_items)
        out.append(la.Generator(name, syn, study, ("T+S",), info, lam, purge, purge_mode=mode, train_synthetic=tsyn))
    ctrl = cfg.get("controls") or {}
    if ctrl.get("oracle_world") is not None:
        from scalr import demo_world
        world = demo_world.generate(demo_world.WorldSpec(**ctrl["oracle_world"]))
        true = pd.concat([demo_world.true_translation(world, d) for d in world.spec.source_domains], ignore_index=True)
        tr = gen.oracle_translation(true)
        missing = set(data.translation.target_item) - set(tr.target_item)
        if missing:
            raise SystemExit(f"controls.oracle_world does not match the data: {len(missing)} target items of the "
                             "build are not in the world's catalog")
        # the planted truth has no counts to leave a user out of
        syn, info = gen.synthesize(tr, data.source_train, data.target_train, data.item_values,
                                   dataclasses.replace(base, leave_self_out=False))
        out.append(la.Generator("oracle", syn, "control", ("T+S",), info))
    if ctrl.get("shuffled", False):
        seed = int(ctrl.get("shuffle_seed", 0))
        both = [f for f in (data.synthetic, data.train_synthetic) if f is not None]
        users = np.unique(np.concatenate([f.user_id.to_numpy().astype(str) for f in both]))
        out.append(la.Generator("shuffled", gen.shuffle_users(data.synthetic, seed, users), "control", ("T+S",),
                                {"synthetic_rows": len(data.synthetic)},
                                train_synthetic=None if data.train_synthetic is None
                                else gen.shuffle_users(data.train_synthetic, seed, users)))
    return out


def run(config_path: str) -> pd.DataFrame:
    cfg = yaml.safe_load(Path(config_path).read_text())
    name = cfg.get("name", Path(config_path).stem)
    out_dir = Path(cfg.get("report_dir", f"reports/{name}"))
    out_dir = out_dir if out_dir.is_absolute() else PROJECT / out_dir
    work = out_dir / "work"
    out_dir.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    unknown = set(cfg.get("studies", [])) - set(STUDIES)
    if unknown:
        raise SystemExit(f"unknown studies {sorted(unknown)}; known: {sorted(STUDIES)}")
    results, deciles, audits, splits, helps = [], [], [], [], []
    for keep in cfg.get("target_keep_users", [1.0]):
        v = {**project_vars(), **cfg.get("vars", {}), "target_keep_users": keep}
        lcfg = ladder_config(v, cfg.get("ladder"))
        db = run_dbt(v, work / f"keep{keep}", BUILD_SELECT)
        with duckdb.connect(str(db), read_only=True) as con:
            data = la.BuildData.from_db(con, pd.Timestamp(str(v["train_end"])))
            helps.append(con.sql("select * from help_diagnostic order by scorer").df().assign(keep=keep))
        gens = generators_for(cfg, v, data, work / f"keep{keep}")
        res, dec, aud, stats = la.run_ladder(data, lcfg, gens, log=lambda m: log(f"keep={keep} {m}"))
        results.append(res.assign(keep=keep))
        deciles.append(dec.assign(keep=keep))
        if len(aud):
            audits.append(aud.assign(keep=keep))
        splits.append({"keep": keep, **stats})
    res = pd.concat(results, ignore_index=True)
    runtime = time.time() - t0
    res["runtime_s"] = runtime
    res = la.result_frame(res, ("keep", "synthetic_rows_raw", "synthetic_rows", "bucket_tv_before", "bucket_tv_after",
                                "runtime_s"))
    dec = pd.concat(deciles, ignore_index=True)
    aud = pd.concat(audits, ignore_index=True) if audits else pd.DataFrame()
    spl = pd.DataFrame(splits)
    hlp = pd.concat(helps, ignore_index=True)
    res_db = Path(cfg.get("results_db", out_dir / "experiments.duckdb"))
    res_db = res_db if res_db.is_absolute() else PROJECT / res_db
    with duckdb.connect(str(res_db)) as con:
        for tname, frame in (("experiment_results", res), ("experiment_deciles", dec), ("leak_audit_results", aud),
                             ("experiment_splits", spl),
                             ("help_diagnostic_results", hlp)):
            if len(frame):
                con.register("f", frame)
                con.sql(f"create or replace table {tname} as select * from f")
                con.unregister("f")
    from scalr.report import write_report
    write_report(res, dec, aud, spl, out_dir, name, config_path, runtime, help_diag=hlp,
                 synthetic_lambda=float({**project_vars(), **cfg.get("vars", {})}["synthetic_lambda"]))
    log(f"done in {runtime:.0f}s: {len(res)} result rows -> {res_db} (table experiment_results), "
        f"report {out_dir / 'report.md'} and report.html")
    return res


def check_config(config_path: str) -> dict:
    """The parsed config, or ValueError naming what is wrong (missing file, bad YAML, unknown keys,
    unknown studies, a target_keep_users outside (0, 1])."""
    if not (PROJECT / "dbt_project.yml").is_file():
        raise ValueError(f"no dbt_project.yml at {PROJECT}: run from a checkout of the project installed with "
                         "pip install -e . (make setup)")
    p = Path(config_path)
    if not p.is_file():
        raise ValueError(f"config {config_path!r} not found" + (": it is a directory" if p.is_dir() else ""))
    try:
        cfg = yaml.safe_load(p.read_text())
    except yaml.YAMLError as e:
        raise ValueError(f"config {config_path!r} is not valid YAML: {str(e).splitlines()[0]}") from None
    if not isinstance(cfg, dict):
        raise ValueError(f"config {config_path!r} must be a YAML mapping (name, vars, target_keep_users, studies, ...)")
    unknown = set(cfg) - CONFIG_KEYS
    if unknown:
        raise ValueError(f"config {config_path!r}: unknown keys {sorted(unknown)}; known: {sorted(CONFIG_KEYS)}")
    bad_vars = set(cfg.get("vars") or {}) - set(project_vars())
    if bad_vars:
        raise ValueError(f"config {config_path!r}: vars {sorted(bad_vars)} are not vars of dbt_project.yml")
    bad_ladder = set(cfg.get("ladder") or {}) - {f.name for f in dataclasses.fields(la.LadderConfig)}
    if bad_ladder:
        raise ValueError(f"config {config_path!r}: ladder keys {sorted(bad_ladder)} are not fields of "
                         "scalr.ladder.LadderConfig")
    studies = set(cfg.get("studies") or []) - set(STUDIES)
    if studies:
        raise ValueError(f"config {config_path!r}: unknown studies {sorted(studies)}; known: {sorted(STUDIES)}")
    grid_studies(cfg.get("grid"))  # raises on unknown keys / empty lists
    keeps = cfg.get("target_keep_users", [1.0])
    if not isinstance(keeps, list) or not all(isinstance(k, (int, float)) and 0 < k <= 1 for k in keeps):
        raise ValueError(f"config {config_path!r}: target_keep_users must be a list of fractions in (0, 1], got {keeps!r}")
    return cfg


def main(argv: list[str] | None = None, prog: str = "python -m scalr.experiments") -> None:
    ap = argparse.ArgumentParser(prog=prog, description="One-command SCALR study: per target_keep_users a dbt build of the data, then "
                                 "the ladder (T, T+F, T+S, T+F+S, heuristics), generator studies and controls, every "
                                 "arm against the target-only arm T.",
                                 epilog="Writes reports/<name>/report.md, report.html (one self-contained page) and "
                                        "experiments.duckdb (table experiment_results). Example: "
                                        f"{prog} experiments/demo.yml")
    ap.add_argument("config", help="an experiments/*.yml file (keys: name, vars, target_keep_users, studies, "
                                   "controls, ladder, report_dir, results_db)")
    args = ap.parse_args(argv)
    from scalr.cli import fail
    try:
        check_config(args.config)
    except ValueError as e:
        fail(prog, str(e))
    run(args.config)


if __name__ == "__main__":
    main()

"""The project as a dbt / recsys engineer expects it (issue 18): the input files are dbt sources and
the docs lineage starts at them (checked in headless Chromium), the SQL marts have enforced
contracts and the Python marts typed and range tests, `main` / `published` hold only the models,
the Parquet export round-trips, and the items file default and the popularity fallback are stated.
The session's full build of the demo-like world (tests/conftest.py demo_build, with an export_dir)
is shared by every test here; the popularity fallback is read from the session's build of a world
without an items file (privacy_build)."""
from __future__ import annotations

import json
import re
from pathlib import Path
from types import SimpleNamespace

import duckdb
import pandas as pd
import pytest
import yaml

from scalr import demo_world
from tests.browser import render, require_chromium
from tests.conftest import PROJECT, run_dbt

EXPORTED = ["synthetic_events_aligned", "translation", "training_rows"]


@pytest.fixture(scope="module")
def built(demo_build):
    manifest = demo_build.manifest
    models = {n["name"]: n for n in manifest["nodes"].values() if n["resource_type"] == "model"}
    marts = {k: n for k, n in models.items() if n["fqn"][1] == "marts"}
    return SimpleNamespace(res=demo_build.res, vars=demo_build.vars, tmp=demo_build.tmp, manifest=manifest,
                           models=models, marts=marts)


def _text(dom: str) -> str:
    body = re.sub(r"<(script|style)\b.*?</\1>", " ", dom, flags=re.S | re.I)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", body))


def test_sources_start_the_lineage_and_the_static_docs_render_it(built):
    m = built.manifest
    events, items = m["sources"]["source.scalr.scalr.events"], m["sources"]["source.scalr.scalr.items"]
    assert str(Path(built.vars["events_path"])) in events["config"]["external_location"]
    assert "all_varchar = true" in events["config"]["external_location"]
    assert m["child_map"]["source.scalr.scalr.events"] == ["model.scalr.base_events"]
    assert m["child_map"]["source.scalr.scalr.items"] == ["model.scalr.stg_items"]
    assert "Welcome!" not in json.dumps(m["docs"].get("doc.scalr.__overview__", {}))

    require_chromium()
    res = run_dbt(built.tmp / "run", built.vars, command="docs generate", db=built.res.db,
                  extra=["--static", "--no-compile"])
    assert res.ok, res.output[-3000:]
    catalog = json.loads((built.tmp / "run" / "target" / "catalog.json").read_text())
    # the catalog says what the header says: table marts are tables, the view mart a view
    for name, node in built.marts.items():
        want = {"table": "BASE TABLE", "view": "VIEW"}[node["config"]["materialized"]]
        assert catalog["nodes"][node["unique_id"]]["metadata"]["type"] == want, name
    page = (built.tmp / "run" / "target" / "static_index.html").as_uri()
    shots = built.tmp / "screenshots"

    overview = render(page + "#!/overview", shots, "overview")
    text = _text(overview.dom)
    assert "scalr: synthetic target-domain training events from a source domain" in text
    assert "Welcome!" not in text
    # the source's page with its lineage graph open: the page lists the model that reads the
    # source (Referenced By), and cytoscape draws the graph's nodes into a sized canvas
    graph = render(page + "#!/source/source.scalr.scalr.events?g_v=1", shots, "source_events_lineage")
    text = _text(graph.dom)
    assert re.search(r"scalr\.events source table", text), text[:2000]
    assert re.search(r"Referenced By Models base_events", text), text[:4000]
    sizes = [(int(w), int(h)) for w, h in re.findall(
        r'<canvas[^>]*data-id="layer2-node"[^>]*width="(\d+)" height="(\d+)"', graph.dom)]
    assert sizes and max(w for w, _ in sizes) > 500 and max(h for _, h in sizes) > 300, sizes
    assert all(s.screenshot.stat().st_size > 20_000 for s in (overview, graph))


def test_contracts_on_sql_marts_and_typed_python_marts(built):
    tests = [n for n in built.manifest["nodes"].values() if n["resource_type"] == "test"]
    sql = {k: n for k, n in built.marts.items() if n["language"] == "sql"}
    py = {k: n for k, n in built.marts.items() if n["language"] == "python"}
    assert {"translation", "privacy_audit"} <= set(sql) and {"training_rows", "synthetic_events_aligned"} <= set(py)
    for name, node in built.marts.items():
        assert node["columns"] and all(c["data_type"] for c in node["columns"].values()), name
        if name in sql:
            assert node["contract"]["enforced"], name
        else:
            checks = [t for t in tests if t["attached_node"] == node["unique_id"]
                      and t["test_metadata"]["name"] == "column_types_match"]
            assert len(checks) == 1, name
            assert re.search(rf"PASS\s.*column_types_match_{name}_", built.res.output), name
    ranges = {(t["attached_node"].split(".")[-1], t["column_name"]) for t in tests
              if t.get("test_metadata", {}).get("name") == "value_between"}
    assert {("synthetic_events_aligned", "p_hat"), ("training_rows", "sample_weight"),
            ("leak_audit", "adversarial_auc"), ("model_metrics", "recall_at_50")} <= ranges
    # the documented types are the built ones (the check the generic test makes, made here too)
    with built.res.con() as con:
        for name, node in built.marts.items():
            got = dict(con.sql(f"select column_name, data_type from information_schema.columns where "
                               f"table_schema = 'main' and table_name = '{name}'").fetchall())
            assert got == {c: d["data_type"].upper() for c, d in node["columns"].items()}, name


def test_main_and_published_hold_only_the_models(built):
    with built.res.con() as con:
        rels = con.sql("select table_schema, table_name, table_type from information_schema.tables "
                       "where table_schema in ('main', 'published')").fetchall()
    main = {n: t for s, n, t in rels if s == "main"}
    published = {n: t for s, n, t in rels if s == "published"}
    built_models = {k for k, n in built.models.items() if n["config"]["materialized"] != "ephemeral"}
    assert set(main) == built_models
    assert set(published) == set(built.marts)
    for name, node in built.models.items():
        if name in main:
            assert main[name] == {"table": "BASE TABLE", "view": "VIEW"}[node["config"]["materialized"]], name


def test_parquet_export_round_trips(built):
    out = Path(built.vars["export_dir"])
    assert "NOT exporting" not in built.res.output
    con = duckdb.connect()
    schema = con.sql(f"select * from '{out / 'scalr_export_schema_0.parquet'}' order by mart, ordinal").df()
    assert sorted(set(schema.mart)) == sorted(EXPORTED)
    with built.res.con() as db:
        for name in EXPORTED:
            path = out / f"{name}.parquet"
            cols = list(built.marts[name]["columns"])
            described = con.sql(f"describe select * from '{path}'").fetchall()
            # the file schema is the documented one: names, order and types
            assert [(r[0], r[1].lower()) for r in described] == \
                [(c, built.marts[name]["columns"][c]["data_type"]) for c in cols], name
            assert list(schema[schema.mart == name].column_name) == cols
            back = con.sql(f"select * from '{path}' order by all").df()
            orig = db.sql(f"select {', '.join(cols)} from published.{name} order by all").df()
            assert len(back) == len(orig) == schema[schema.mart == name].n_rows.iat[0] > 0, name
            pd.testing.assert_frame_equal(back, orig, check_exact=True, obj=name)
            if built.marts[name]["config"]["materialized"] == "view":  # translation: a view, written sorted
                as_written = con.sql(f"select * from '{path}'").df()
                pd.testing.assert_frame_equal(as_written, back, check_exact=True, obj=f"{name} row order")
    assert built.marts["translation"]["config"]["materialized"] == "view"
    # the run-operation writes the same files, byte for byte
    again = built.tmp / "export_again"
    res = run_dbt(built.tmp / "run", built.vars, command="run-operation scalr_export_parquet", db=built.res.db,
                  extra=["--args", json.dumps({"export_dir": str(again)})])
    assert res.ok, res.output[-3000:]
    for f in sorted(out.iterdir()):
        assert (again / f.name).read_bytes() == f.read_bytes(), f.name


def test_items_default_beside_the_demo_events_and_popularity_fallback_is_stated(built, privacy_build):
    defaults = yaml.safe_load((PROJECT / "dbt_project.yml").read_text())["vars"]
    events, items = Path(defaults["events_path"]), Path(defaults["items_path"])
    assert items.parent == events.parent and events.parent.name == "demo"
    spec = demo_world.write(demo_world.generate(demo_world.WorldSpec(n_users=50)), built.tmp / "names")
    assert (spec["events"].name, spec["items"].name) == (events.name, items.name)  # what make demo writes
    # privacy_build's world has no items file (items_path null): a warning naming the model, and the
    # summary says so (test_dbt_build: 'items file' with one)
    assert "int_target_item_values: var items_path is null, so every target train item is valued by its " \
           "popularity" in privacy_build.output
    with privacy_build.con() as con:
        assert set(con.sql("select value_source from published.synthetic_summary").fetchall()) == {("popularity",)}


# docs/style.md "Layers" and "YAML" as dbt-project-evaluator checks them, on the manifest. The
# documented exceptions: base_events is the raw file as a view (no grain: stg_events deduplicates
# it), model_metrics reads stg_events (every validated event of every window, docs/style.md).
NO_PRIMARY_KEY = {"base_events"}
LAYER_READS = {"staging": {"source", "staging"}, "intermediate": {"staging", "intermediate"},
               "marts": {"intermediate", "marts"}}
LAYER_EXCEPTIONS = {("model_metrics", "staging")}
LAYER_PREFIX = {"staging": ("stg_", "base_"), "intermediate": ("int_",)}


def evaluator_findings(manifest: dict) -> list[str]:
    """Every model documented (model and columns) in its own `<model>.yml`, primary-key tested
    (unique + not_null, unique_combination, or one_row), named for its layer, and reading only its layer's
    inputs (LAYER_READS): one line per violation."""
    nodes = manifest["nodes"]
    models = {k: n for k, n in nodes.items() if n["resource_type"] == "model"}
    tests = [n for n in nodes.values() if n["resource_type"] == "test" and n.get("test_metadata")]
    out = []
    for uid, n in sorted(models.items()):
        name, layer = n["name"], n["fqn"][1]
        if not n["description"].strip():
            out.append(f"{name}: no description")
        out += [f"{name}.{c}: no description" for c, col in n["columns"].items() if not col["description"].strip()]
        if not n["columns"]:
            out.append(f"{name}: no documented columns")
        if Path(n.get("patch_path") or "").name != f"{name}.yml":
            out.append(f"{name}: not documented in its own {name}.yml (patch_path {n.get('patch_path')})")
        mine = [t for t in tests if t.get("attached_node") == uid]
        kinds = {(t["test_metadata"]["name"], t.get("column_name")) for t in mine}
        unique_cols = {c for k, c in kinds if k == "unique"}
        has_pk = (any(k in ("unique_combination", "one_row") for k, _ in kinds)
                  or any(("not_null", c) in kinds for c in unique_cols))
        if not has_pk and name not in NO_PRIMARY_KEY:
            out.append(f"{name}: no primary-key test (unique + not_null, unique_combination, or one_row)")
        if layer in LAYER_PREFIX and not name.startswith(LAYER_PREFIX[layer]):
            out.append(f"{name}: a {layer} model not named {' / '.join(LAYER_PREFIX[layer])}*")
        for dep in n["depends_on"]["nodes"]:
            read = "source" if dep.startswith("source.") else nodes[dep]["fqn"][1] if dep in nodes else None
            if read and read not in LAYER_READS.get(layer, set()) and (name, read) not in LAYER_EXCEPTIONS:
                out.append(f"{name} ({layer}) reads {dep} ({read})")
    return out


def test_every_model_documented_key_tested_and_in_its_layer(built):
    assert evaluator_findings(built.manifest) == []
    assert set(built.models) >= NO_PRIMARY_KEY | {m for m, _ in LAYER_EXCEPTIONS}
    # the checker sees each kind of violation (a shuffled manifest must fail)
    bad = json.loads(json.dumps(built.manifest))
    nodes = bad["nodes"]
    uid = {n["name"]: k for k, n in nodes.items() if n["resource_type"] == "model"}
    nodes[uid["translation"]]["depends_on"]["nodes"].append(uid["stg_events"])
    nodes[uid["int_items"]]["depends_on"]["nodes"].append(uid["translation"])
    nodes[uid["stg_items"]]["depends_on"]["nodes"].append(uid["int_items"])
    nodes[uid["int_overlap_users"]]["depends_on"]["nodes"].append(next(iter(bad["sources"])))
    nodes[uid["synthetic_summary"]]["description"] = " "
    nodes[uid["int_translation"]]["columns"]["p_hat"]["description"] = ""
    nodes[uid["leak_audit"]]["patch_path"] = "scalr://models/marts/other.yml"
    for k in [k for k, t in nodes.items() if t["resource_type"] == "test"
              and t.get("attached_node") == uid["int_walk_graph"]
              and t["test_metadata"]["name"] in ("unique", "unique_combination", "one_row")]:
        del nodes[k]
    found = evaluator_findings(bad)
    for expected in ("translation (marts) reads model.", "int_items (intermediate) reads model.",
                     "stg_items (staging) reads model.", "int_overlap_users (intermediate) reads source.",
                     "synthetic_summary: no description", "int_translation.p_hat: no description",
                     "leak_audit: not documented in its own", "int_walk_graph: no primary-key test"):
        assert any(f.startswith(expected) for f in found), (expected, found)
    assert len(found) == 8, found

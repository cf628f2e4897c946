# Two commands on a fresh machine (Python 3.11 + pip):
#   make demo   set up, generate the seeded demo world, run the whole pipeline (dbt build)
#   make test   set up, run every test (pytest, which also runs dbt build + dbt unit/data tests)
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
DEMO_VARS := {items_path: demo/items.csv.gz}

SCALR_DB ?= scalr.duckdb

.PHONY: setup setup-spark demo test bench experiments sql clean

setup: $(VENV)/.scalr-installed

$(VENV)/.scalr-installed: requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --disable-pip-version-check -q -r requirements.txt
	$(BIN)/pip install --disable-pip-version-check -q --no-deps -e .
	touch $@

# The Spark target (README "Spark"): dbt-spark + pyspark into the same venv; needs Java 17.
setup-spark: $(VENV)/.scalr-spark-installed

$(VENV)/.scalr-spark-installed: requirements-spark.txt $(VENV)/.scalr-installed
	$(BIN)/pip install --disable-pip-version-check -q -r requirements-spark.txt
	touch $@

demo/events.csv.gz: | setup
	$(BIN)/python -m scalr.demo_world --out demo

demo: setup demo/events.csv.gz
	$(BIN)/dbt build --vars '$(DEMO_VARS)'

# 2 workers (pytest-xdist; tests/conftest.py schedules a module, or the modules that share a build, as one unit)
test: setup
	$(BIN)/pytest -q -n 2 --dist loadscope --durations=25

# benchmark on a seeded 1e6-event world: bench_results/bench_<stamp>.csv and .md (docs/performance.md)
bench: setup
	$(BIN)/scalr bench --source-events 1e6

# the ladder, studies and controls on the demo world: reports/demo/report.md, report.html, experiments.duckdb
experiments: setup demo/events.csv.gz
	$(BIN)/scalr experiments experiments/demo.yml

# the built database in harlequin (read-only; `make demo` first)
sql: setup
	$(BIN)/harlequin --read-only $(SCALR_DB)

# every output of the targets above and of dbt / pytest (keeps .venv)
clean:
	rm -rf target logs dbt_packages demo scalr.duckdb scalr.duckdb.wal .duckdb_tmp \
		reports bench_results .pytest_cache spark-warehouse spark-metastore spark-metastore.log spark_out

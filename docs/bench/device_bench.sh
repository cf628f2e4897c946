#!/bin/bash
# The two_stage path's benchmark on a machine whose Python has no dbt (the lent 16-core device
# machine, Python 3.12, nothing fetchable there). Run from the project root. Once, on a machine with
# the package registry, put the wheels of dbt-duckdb's closure in .whl/ (an ignored folder):
#   python -m pip download -q --only-binary=:all: --python-version 3.12 --implementation cp \
#     --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
#     -d .whl dbt-core==1.11.16 dbt-duckdb==1.11.1 duckdb==2.0.1
# usage: bash docs/bench/device_bench.sh SIZE RUN_THREADS [CURVE]  (e.g. 1e7 2 1,4,8,16; 1e8 16)
set -u
t0=$(date +%s)
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 3
export PYTHONPATH=/tmp/site:$PWD/python PYTHONUNBUFFERED=1
printf '#!/bin/sh\nexec python3 -c "from dbt.cli.main import cli; cli()" "$@"\n' > /tmp/dbt && chmod +x /tmp/dbt
export SCALR_DBT=/tmp/dbt  # scalr.bench runs this dbt
echo "install $(( $(date +%s) - t0 )) s"; nproc; free -g | head -2; lscpu | grep -i "model name"
python3 -c "import duckdb, numpy, pandas, pyarrow; print('duckdb', duckdb.__version__, 'numpy', numpy.__version__, 'pandas', pandas.__version__, 'pyarrow', pyarrow.__version__)"
curve=(); [ -n "${3:-}" ] && curve=(--threads "$3")
python3 -m scalr.bench --source-events "$1" --dbt-only --samplers two_stage --run-threads "$2" "${curve[@]}" --memory-limit 64GB \
    --workdir /tmp/bw --out "${OUT:-/tmp/out}" 2>&1 | grep -v "^\s*$"
echo "rc ${PIPESTATUS[0]} total $(( $(date +%s) - t0 )) s"

# Sparkify warehouse: `make demo` runs the whole pipeline on DuckDB; `make test` runs every test.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
DEMO_DATA ?= data/demo
TARGET ?= $(or $(SPARKIFY_TARGET),dev)
# the suite's test files run on this many pytest-xdist workers (each file on one worker, with its
# own PostgreSQL and S3 servers): most tests wait on dbt or a server, so two cores do two files
TEST_WORKERS ?= 2

# `python -m infra up` writes the Redshift endpoint and role here (no secrets): export them.
ifneq ($(wildcard sparkify.env),)
include sparkify.env
export $(shell sed -n 's/^\([A-Z_][A-Z0-9_]*\)=.*/\1/p' sparkify.env)
endif

export DBT_SEND_ANONYMOUS_USAGE_STATS ?= false
# dbt's colours only on a terminal (dbt_project.yml turns them off for cron and CI logs)
DBT_COLOURS = DBT_USE_COLORS=$${DBT_USE_COLORS:-$$(test -t 1 && echo true || echo false)}
export DBT_PROFILES_DIR ?= $(CURDIR)

.PHONY: setup demo report real-data daily airflow-venv test check lint docs bench infra-up infra-status infra-down clean help

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

setup: $(STAMP) $(DBT_PROFILES_DIR)/profiles.yml  ## create .venv with the pinned dependencies

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[dev]'
	touch $(STAMP)

$(DBT_PROFILES_DIR)/profiles.yml:
	cp profiles.yml.example $@

$(DEMO_DATA)/log_json_path.json: | $(STAMP)
	$(BIN)/python -m generator --output $(DEMO_DATA)

demo: setup $(DEMO_DATA)/log_json_path.json  ## generate demo data, stage it, build and test the warehouse, print the answers
	$(BIN)/python loader/copy_staging.py --target $(TARGET) --source $(DEMO_DATA)
	$(DBT_COLOURS) $(BIN)/dbt build --target $(TARGET)
	$(BIN)/python -m insights --target $(TARGET)

report: setup  ## print the analysts' answers and write the dashboards for TARGET
	$(BIN)/python -m insights --target $(TARGET)

REAL_DATA ?= s3://udacity-dend
# the real data gets a DuckDB warehouse of its own: the demo's stays sparkify.duckdb
REAL_WAREHOUSE ?= sparkify-real.duckdb
real-data: export SPARKIFY_DUCKDB_PATH ?= $(REAL_WAREHOUSE)
real-data: setup  ## the whole pipeline on the real public data (REAL_DATA=s3://udacity-dend or a local copy), into sparkify-real.duckdb
	$(BIN)/python loader/copy_staging.py --target $(TARGET) --source $(REAL_DATA)
	$(DBT_COLOURS) $(BIN)/dbt build --target $(TARGET)
	$(BIN)/python -m insights --target $(TARGET)

SOURCE ?= $(or $(SPARKIFY_SOURCE),s3://udacity-dend)
daily: setup  ## the scheduled job: stage SOURCE (SINCE=/UNTIL= for a date range), freshness, dbt build, record the run
	$(BIN)/python -m orchestration.daily --target $(TARGET) --source $(SOURCE) \
		$(if $(SINCE),--since $(SINCE)) $(if $(UNTIL),--until $(UNTIL))

AIRFLOW_VENV ?= .venv-airflow
AIRFLOW_STAMP := $(AIRFLOW_VENV)/.installed-stamp
airflow-venv: $(AIRFLOW_STAMP)  ## Airflow in a virtualenv of its own (the DAG in orchestration/airflow/ and its test)

$(AIRFLOW_STAMP): orchestration/airflow/requirements.txt orchestration/airflow/constraints.txt
	$(PYTHON) -m venv $(AIRFLOW_VENV)
	$(AIRFLOW_VENV)/bin/python -m pip install --quiet --disable-pip-version-check \
		-c orchestration/airflow/constraints.txt -r orchestration/airflow/requirements.txt
	touch $(AIRFLOW_STAMP)

test: setup airflow-venv  ## run the whole test suite (Python and dbt, DuckDB and PostgreSQL)
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile

check: setup  ## every data test over every row of TARGET (a build's own tests check what it changed)
	$(DBT_COLOURS) $(BIN)/dbt test --target $(TARGET) --vars '{full_checks: true}'

lint: setup  ## ruff, mypy and sqlfluff (both branches of the incremental models)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m mypy
	$(BIN)/sqlfluff lint models macros analyses tests/dbt
	$(BIN)/sqlfluff lint models tests/dbt --config .sqlfluff-incremental

docs: setup  ## generate the dbt docs site and serve it on http://127.0.0.1:8080
	$(DBT_COLOURS) $(BIN)/dbt docs generate --target $(TARGET)
	$(DBT_COLOURS) $(BIN)/dbt docs serve --target $(TARGET) --host 127.0.0.1 --port 8080 --no-browser

bench: setup  ## run the benchmarks in bench/ and append the figures to bench/RESULTS.md
	$(BIN)/python -m bench.real_data
	$(BIN)/python -m bench.loader_throughput $(BENCH_ARGS)
	$(BIN)/python -m bench.small_files
	$(BIN)/python -m bench.incremental
	$(BIN)/python -m bench.scale
	$(BIN)/python -m bench.dbt_tasks

infra-up: setup  ## provision Redshift (see README: it costs money until infra-down)
	$(BIN)/python -m infra up

infra-status: setup  ## what exists, its state and cost per hour
	$(BIN)/python -m infra status

infra-down: setup  ## delete everything infra-up created
	$(BIN)/python -m infra down

clean:  ## remove the build outputs and the demo and real-data warehouses (keeps .venv and data)
	rm -rf target logs reports sparkify.duckdb sparkify.duckdb.wal sparkify-real.duckdb sparkify-real.duckdb.wal

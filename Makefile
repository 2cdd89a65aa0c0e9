# The two commands a newcomer needs:  make demo  and  make test.
# Both create .venv and install seglake (with pinned Spark, Delta, MLflow) on first use.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test lint install clean-data benchmark-bronze benchmark-features data-dictionary benchmark-silver

$(STAMP): setup.py
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	@touch $(STAMP)

install: $(STAMP)

## Run the whole pipeline on freshly generated sample data (local Spark, Delta under data/).
demo: $(STAMP)
	$(BIN)/seglake pipeline --env local --generate

## Run the test suite.
test: $(STAMP)
	$(BIN)/pytest -q

lint: $(STAMP)
	$(BIN)/ruff check lib jobs tests

clean-data:
	rm -rf data

## Bronze ingest throughput against spark.read.json/text of the same files (see benchmarks/README.md).
BRONZE_BENCH_ARGS ?= --events 2000000
benchmark-bronze: $(STAMP)
	$(BIN)/python benchmarks/bench_bronze.py $(BRONZE_BENCH_ARGS)

## Incremental silver over a 1% next-day batch against a full rebuild (see benchmarks/README.md).
SILVER_BENCH_ARGS ?= --events 2000000
benchmark-silver: $(STAMP)
	$(BIN)/python benchmarks/bench_silver.py $(SILVER_BENCH_ARGS)

## Gold feature job against a single groupBy(customer).agg(count, sum, max) over the same silver events.
FEATURES_BENCH_ARGS ?= --events 1000000 5000000 10000000
benchmark-features: $(STAMP)
	$(BIN)/python benchmarks/bench_features.py $(FEATURES_BENCH_ARGS)

## docs/data_dictionary.md from the features declared in conf/ (descriptions, types).
data-dictionary: $(STAMP)
	$(BIN)/python -m seglake.features.dictionary --env local --out docs/data_dictionary.md

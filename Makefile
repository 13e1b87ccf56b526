# Two commands for a new user: `make run` (the demo pipeline) and `make test` (all tests).
# Both first build an isolated environment in .venv from the pinned, hashed requirements.lock.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
CORES  ?= 2

.PHONY: run test lint lock demo-data readme bench clean-results

$(STAMP): requirements.lock pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --require-hashes -r requirements.lock
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/interdep --profile profiles/default --cores $(CORES)

test: $(STAMP) lint
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/snakemake --lint

# Maintainers: re-resolve the pins after editing requirements.in
lock: $(STAMP)
	$(BIN)/python -m pip install --quiet uv
	$(BIN)/uv pip compile --python-version 3.11 --generate-hashes --no-header requirements.in -o requirements.lock

# Regenerate the embedded demo (byte-identical; a test checks it)
demo-data: $(STAMP)
	$(BIN)/python -m interdep.panel.demo data/demo

# Regenerate the README's artefact map and data-sources table (a test checks they are current)
readme: $(STAMP)
	$(BIN)/python -m interdep.outputs.readme

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_panel_sar.py

clean-results:
	rm -rf results .snakemake/incomplete

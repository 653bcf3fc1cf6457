# The two commands of the README: `make demo` and `make test`.
# Everything the project needs is installed here, into .venv, from pyproject.toml.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install sysdeps demo test lint bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# Debian packages that some tests use (PDF text layer, headless browser, R); never fatal.
sysdeps:
	./scripts/sysdeps.sh

demo: $(STAMP)
	$(BIN)/sgbm-redcap demo --out out

test: $(STAMP) sysdeps
	$(BIN)/ruff check sgbm_redcap tests benchmarks
	$(BIN)/python -m pytest -n 2 -q

lint: $(STAMP)
	$(BIN)/ruff check sgbm_redcap tests benchmarks
	$(BIN)/sgbm-redcap dictionary lint redcap_project/data_dictionary.csv

bench: $(STAMP)
	for f in benchmarks/bench_*.py; do $(BIN)/python $$f || exit 1; done

clean:
	rm -rf $(VENV) out .pytest_cache

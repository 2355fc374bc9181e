# Two commands do all the set-up: `make run` (train the default model) and `make test`.
# Hydra overrides go through ARGS, e.g. `make run ARGS="model=vae latent=2 trainer.max_epochs=20"`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
DATA_DIR ?= data
ARGS ?=
PYTEST_ARGS ?=

.PHONY: setup data run test lint clean-outputs

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

setup: $(VENV)/.installed

data: setup
	$(PY) -m genmodels.data --dataset mnist --data-dir $(DATA_DIR)

run: data
	$(PY) -m genmodels.train $(ARGS)

test: data
	GENMODELS_DATA_DIR=$(abspath $(DATA_DIR)) $(PY) -m pytest -n 2 $(PYTEST_ARGS)

lint: setup
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/ruff format --check src tests benchmarks

clean-outputs:
	rm -rf outputs

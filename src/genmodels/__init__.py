"""genmodels: config-driven experiments with VAEs and GANs on MNIST-like data."""

import os
from pathlib import Path

from omegaconf import OmegaConf

# Idle OpenMP threads sleep instead of spinning. With spinning threads, one other busy process on the
# machine slowed a two-thread CPU run several-fold (docs/measurements.md). It takes effect when genmodels
# is imported before torch, as in every `python -m genmodels.<command>`; an OMP_WAIT_POLICY of your own wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

# The checkout that holds configs/: the default data/ and outputs/ folders are resolved against it
# (`${project_root:}` in schema.py's PathsConfig), so every command finds them from any working directory.
PROJECT_ROOT = Path(__file__).resolve().parents[2]
CONFIG_DIR = PROJECT_ROOT / "configs"  # what every command composes (train.py and evaluate.py name it relatively)
OmegaConf.register_new_resolver("project_root", lambda: str(PROJECT_ROOT), replace=True)

from genmodels import schema  # noqa: E402,F401  (the config schemas and the help's group lists)

__version__ = "0.1.0"


def __getattr__(name: str):
    """``genmodels.load_run``, imported on first use: ``import genmodels`` (every ``--help``) stays free of torch."""
    if name == "load_run":
        from genmodels.runs.loading import load_run

        return load_run
    raise AttributeError(f"module 'genmodels' has no attribute {name!r}")

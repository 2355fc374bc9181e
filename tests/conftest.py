"""Shared fixtures: the real MNIST folder, composed training configs, and a CLI runner."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from omegaconf import DictConfig, open_dict

REPO = Path(__file__).resolve().parents[1]
CONFIGS = REPO / "configs"

if os.environ.get("PYTEST_XDIST_WORKER"):
    torch.set_num_threads(1)  # two workers on two cores: no oversubscription


@pytest.fixture(scope="session")
def mnist_dir() -> Path:
    """The data folder holding the real MNIST files (fetched once if missing)."""
    from genmodels.data import ensure_dataset

    data_dir = Path(os.environ.get("GENMODELS_DATA_DIR", REPO / "data"))
    ensure_dataset("mnist", data_dir)
    return data_dir


def compose_train(overrides: list[str], output_dir: Path, data_dir: Path) -> DictConfig:
    """The real training config with overrides, writing into ``output_dir``, shrunk for CPU tests."""
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONFIGS), version_base="1.3"):
        cfg = compose(
            config_name="train",
            overrides=[
                f"paths.data_dir={data_dir}",
                f"paths.output_dir={output_dir}",
                "trainer.accelerator=cpu",
                "trainer.enable_progress_bar=false",
                "trainer.enable_model_summary=false",
                *overrides,
            ],
        )
    with open_dict(cfg):
        cfg.paths.output_dir = str(output_dir)
    return cfg


@pytest.fixture
def train_config(tmp_path: Path, mnist_dir: Path):
    """A factory: ``train_config([...overrides])`` -> composed config writing into a fresh tmp folder."""

    def make(overrides: list[str] | None = None) -> DictConfig:
        return compose_train(overrides or [], tmp_path / "run", mnist_dir)

    return make


def cli_command(module: str, *args: str, prelude: str = "") -> list[str]:
    """``python -m <module> <args>``; with ``prelude``, that code runs first, then the module as ``__main__``."""
    if not prelude:
        return [sys.executable, "-m", module, *args]
    launch = [
        "import runpy, sys",
        f"sys.argv = [{module!r}, *{list(args)!r}]",
        f"runpy.run_module({module!r}, run_name='__main__')",
    ]
    return [sys.executable, "-c", "\n".join([prelude, *launch])]


@pytest.fixture
def run_cli(mnist_dir: Path):
    """Run ``python -m <module> <args>`` as a user would; returns the completed process."""

    def run(
        module: str, *args: str, check: bool = True, timeout: float = 300, prelude: str = ""
    ) -> subprocess.CompletedProcess:
        """``prelude``: Python code run first in the same process (e.g. a patch standing for a condition)."""
        env = {**os.environ, "GENMODELS_DATA_DIR": str(mnist_dir), "OMP_NUM_THREADS": "1"}
        result = subprocess.run(
            cli_command(module, *args, prelude=prelude),
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if check and result.returncode != 0:
            raise AssertionError(
                f"{module} {args} failed ({result.returncode}):\n{result.stdout[-3000:]}\n{result.stderr[-5000:]}"
            )
        return result

    return run

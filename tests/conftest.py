"""Shared fixtures: the real MNIST folder, the quick evaluation classifier, composed training configs, and a
command-line runner."""

from __future__ import annotations

import functools
import os
import subprocess
from pathlib import Path

import pytest
import torch
from omegaconf import DictConfig, OmegaConf

from genmodels.classifier import ClassifierSettings, load_or_train_classifier
from tests import helpers

if os.environ.get("PYTEST_XDIST_WORKER"):
    torch.set_num_threads(1)  # two workers on two cores: no oversubscription


@pytest.fixture(scope="session")
def mnist_dir() -> Path:
    """The data folder holding the real MNIST files (fetched once if missing)."""
    from genmodels.data import ensure_dataset

    folder = helpers.data_dir()
    ensure_dataset("mnist", folder)
    return folder


@pytest.fixture(scope="session")
def quick_classifier(mnist_dir: Path, tmp_path_factory) -> ClassifierSettings:
    """The settings of the evaluation classifier trained in seconds (``helpers.QUICK_CLASSIFIER``), its cache file
    in the data folder: trained by the first session that needs it, then verified (sha256). xdist workers starting
    on an empty cache each train it and replace the files atomically; a weights file and sidecar from different
    workers fail the check and are retrained, never used."""
    tiny = helpers.compose_train(["debug=tiny"], tmp_path_factory.mktemp("quick_classifier"), mnist_dir)
    settings = ClassifierSettings(**OmegaConf.to_container(tiny.classifier))
    load_or_train_classifier(helpers.mnist_reference(mnist_dir), settings, progress=False)
    return settings


@pytest.fixture
def train_config(tmp_path: Path, mnist_dir: Path, quick_classifier: ClassifierSettings):
    """A factory: ``train_config([...overrides])`` -> composed config writing into a fresh tmp folder."""

    def make(overrides: list[str] | None = None) -> DictConfig:
        return helpers.compose_train(overrides or [], tmp_path / "run", mnist_dir)

    return make


@pytest.fixture(scope="session")
def run_cli(mnist_dir: Path, quick_classifier: ClassifierSettings):
    """``run_cli(module, *args, check=True, timeout=300, prelude="")``: ``helpers.run_cli`` on the real MNIST."""
    return functools.partial(helpers.run_cli, data=mnist_dir)


@pytest.fixture(scope="session")
def run_main(mnist_dir: Path, quick_classifier: ClassifierSettings):
    """``run_main(module, *args, check=True)``: ``helpers.run_main`` (the command in this process) on the real MNIST."""
    return functools.partial(helpers.run_main, data=mnist_dir)


@pytest.fixture
def start_cli(mnist_dir: Path, quick_classifier: ClassifierSettings):
    """``start_cli(module, *args, prelude="", separate_stderr=False)``: ``helpers.start_cli`` on the real MNIST;
    a process still running when the test ends (e.g. after a failed assertion) is killed."""
    processes: list[subprocess.Popen] = []

    def start(module: str, *args: str, **options) -> subprocess.Popen:
        processes.append(helpers.start_cli(module, *args, data=mnist_dir, **options))
        return processes[-1]

    yield start
    for process in processes:
        if process.poll() is None:
            process.kill()
        process.communicate()


@pytest.fixture(scope="session")
def cli_vae_run(tmp_path_factory, run_main) -> Path:
    """A one-batch VAE run (latent 2) of the training command (run in this process), with ``.hydra`` and checkpoint.
    Shared: a test may evaluate it or resume it when finished, but must not change it."""
    run_dir = tmp_path_factory.mktemp("cli_vae_run")
    run_main(
        "genmodels.train", "latent=2", "trainer.fast_dev_run=true", *helpers.NO_FIGURES, f"hydra.run.dir={run_dir}"
    )
    return run_dir


@pytest.fixture(scope="session")
def cli_sweep(tmp_path_factory, run_main) -> Path:
    """A sweep of two one-batch VAE runs (latent 2 and 5: jobs ``0``, ``1``) of the training command (in this process).
    Shared: a test may evaluate or compare its jobs, but must not change them; copy it first."""
    sweep = tmp_path_factory.mktemp("cli_sweep")
    run_main(
        "genmodels.train",
        "-m",
        "latent=2,5",
        "trainer.fast_dev_run=true",
        "~logger",
        "callbacks=none",
        f"hydra.sweep.dir={sweep}",
    )
    return sweep


@pytest.fixture(scope="session")
def tiny_runs(run_main, tmp_path_factory) -> dict[str, Path]:
    """A debug=tiny VAE run and a debug=tiny run of the CPU GAN (a moving average of its generator), by ``vae`` and
    ``gan``. Shared: a test may load or sample them, but must not change them."""
    runs = {}
    for name, overrides in {"vae": [], "gan": ["experiment=cpu_gan"]}.items():
        runs[name] = tmp_path_factory.mktemp(name) / "run"
        run_main("genmodels.train", *overrides, "debug=tiny", f"hydra.run.dir={runs[name]}")
    return runs

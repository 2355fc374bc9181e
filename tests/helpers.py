"""What several test modules share: the data folder, composed configs, the command-line runner, run controls."""

from __future__ import annotations

import contextlib
import hashlib
import io
import logging
import os
import pickle
import runpy
import signal
import subprocess
import sys
import tarfile
import time
import warnings
from pathlib import Path
from unittest import mock

import lightning as L
import numpy as np
import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, open_dict
from torch.utils.data import DataLoader, TensorDataset

import genmodels  # noqa: F401  (registers the config schemas that the configs start from)
from genmodels.data import MNISTDataModule, provision
from genmodels.data.datamodule import ReferenceData
from genmodels.data.provision import DatasetSpec
from genmodels.models import dcgan
from genmodels.models.gan import GAN
from genmodels.models.vae import VAE
from genmodels.models.vae_mlp import MLPDecoder, MLPEncoder

REPO = Path(__file__).resolve().parents[1]
CONFIGS = REPO / "configs"


def short_run(epochs: int, batches: int) -> list[str]:
    """Overrides for ``epochs`` epochs of ``batches`` training batches, one validation and one test batch, samples
    drawn after the first and the last epoch."""
    limits = [f"trainer.limit_train_batches={batches}", "trainer.limit_val_batches=1", "trainer.limit_test_batches=1"]
    return [f"trainer.max_epochs={epochs}", *limits, "figures.sample_epochs=[1]"]


# A VAE's callbacks that draw figures: left out where no figure is under test (the curves are redrawn every epoch).
NO_FIGURES = [f"~callbacks.{name}" for name in ("samples", "reconstructions", "manifold", "latent_scatter")]
NO_FIGURES += ["~callbacks.interpolation", "~callbacks.curves"]
# A short VAE run drawing no figures (latent= and trainer.max_epochs= given by each test).
QUICK = [*short_run(1, 2)[1:], "~logger", "trainer.enable_progress_bar=false", "trainer.enable_model_summary=false"]
QUICK += NO_FIGURES
# The networks of model=dcgan, 8 channels wide, on 32x32 images.
SMALL_DCGAN = ["model=dcgan", "data.image_size=32", "model.generator.width=8", "model.discriminator.width=8"]
# The evaluation classifier trained in seconds (a cache file of its own); for the training config, and for evaluate's.
QUICK_CLASSIFIER = ["classifier.epochs=1", "classifier.train_images=2000"]
QUICK_EVAL_CLASSIFIER = [f"metrics.{override}" for override in QUICK_CLASSIFIER]


def mnist_reference(data: Path) -> ReferenceData:
    """MNIST's ``ReferenceData`` in the data folder ``data``: what its evaluation classifier is cached under."""
    return MNISTDataModule(data_dir=str(data)).reference_data()


def data_dir() -> Path:
    """The folder the tests read MNIST from: ``$GENMODELS_DATA_DIR``, else the checkout's ``data/``."""
    return Path(os.environ.get("GENMODELS_DATA_DIR", REPO / "data"))


def compose_train(overrides: list[str], output_dir: Path, data: Path) -> DictConfig:
    """The real training config with overrides, writing into ``output_dir``, shrunk for CPU tests."""
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONFIGS), version_base="1.3"):
        cfg = compose(
            config_name="train",
            overrides=[f"paths.data_dir={data}", f"paths.output_dir={output_dir}", "trainer.accelerator=cpu"]
            + ["trainer.enable_progress_bar=false", "trainer.enable_model_summary=false", *overrides],
        )
    with open_dict(cfg):
        cfg.paths.output_dir = str(output_dir)
    return cfg


def compose_evaluate(overrides: list[str]) -> DictConfig:
    """The real evaluation config with overrides."""
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONFIGS), version_base="1.3"):
        return compose(config_name="evaluate", overrides=overrides)


def cli_env(data: Path) -> dict[str, str]:
    """The environment of a command run as a user would: the test data, one OpenMP thread."""
    return {**os.environ, "GENMODELS_DATA_DIR": str(data), "OMP_NUM_THREADS": "1"}


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


def run_cli(
    module: str, *args: str, data: Path, check: bool = True, timeout: float = 300, prelude: str = ""
) -> subprocess.CompletedProcess:
    """Run ``python -m <module> <args>`` in the checkout and wait for it (``checked``); ``prelude``: Python code
    run first in that process (e.g. a patch standing for a condition)."""
    command = cli_command(module, *args, prelude=prelude)
    return checked(
        subprocess.run(command, cwd=REPO, env=cli_env(data), capture_output=True, text=True, timeout=timeout), check
    )


def checked(result: subprocess.CompletedProcess, check: bool) -> subprocess.CompletedProcess:
    """``result``; with ``check``, a non-zero exit status fails with the end of the output."""
    if check and result.returncode != 0:
        output = f"{result.stdout[-3000:]}\n{result.stderr[-5000:]}"
        raise AssertionError(f"{result.args} failed ({result.returncode}):\n{output}")
    return result


def run_main(
    module: str, *args: str, data: Path, check: bool = True, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    """``run_cli`` in this process (no ~5 s of imports): the module runs as ``__main__`` with ``args`` as its command
    line (``env``: variables added); stdout and stderr are captured, the exit status is that of ``SystemExit`` (0
    without one). Hydra's global state, the root logger's handlers and the environment are restored afterwards."""
    out, err, root = io.StringIO(), io.StringIO(), logging.getLogger()
    handlers, level, code = root.handlers[:], root.level, 0
    try:
        with (
            mock.patch.object(sys, "argv", [module, *args]),
            mock.patch.dict(os.environ, {"GENMODELS_DATA_DIR": str(data), **(env or {})}),
            contextlib.redirect_stdout(out),
            contextlib.redirect_stderr(err),
            warnings.catch_warnings(),
        ):
            warnings.filterwarnings("ignore", message=".*found in sys.modules after import of package")
            try:
                runpy.run_module(module, run_name="__main__")
            except SystemExit as exc:  # a message as its code goes to stderr, as Python's exit prints it
                code = exc.code if isinstance(exc.code, int) else int(exc.code is not None)
                if isinstance(exc.code, str):
                    print(exc.code, file=sys.stderr)
    finally:
        for handler in set(root.handlers) - set(handlers):
            handler.close()
        root.handlers[:], root.level = handlers, level
        GlobalHydra.instance().clear()
        HydraConfig.instance().cfg = None
    return checked(subprocess.CompletedProcess([module, *args], code, out.getvalue(), err.getvalue()), check)


def start_cli(
    module: str, *args: str, data: Path, prelude: str = "", separate_stderr: bool = False
) -> subprocess.Popen:
    """Start ``python -m <module> <args>`` without waiting; stdout and stderr come as one text stream, or as two
    with ``separate_stderr``. Ctrl-C (SIGINT) reaches it as in a terminal, also when the tests run in the
    background (where the shell ignores SIGINT, and a child would inherit that)."""
    return subprocess.Popen(
        cli_command(module, *args, prelude=prelude),
        cwd=REPO,
        env=cli_env(data),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE if separate_stderr else subprocess.STDOUT,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )


def files_of(folder: Path) -> dict[Path, bytes]:
    """Every file under ``folder`` and its bytes: compared before and after a command that must change nothing."""
    return {path: path.read_bytes() for path in folder.rglob("*") if path.is_file()}


def wait_for(path: Path, process: subprocess.Popen, seconds: float = 180) -> None:
    """Wait until ``path`` exists (or fail if the process ended first)."""
    deadline = time.monotonic() + seconds
    while not path.exists():
        assert process.poll() is None, f"the run ended before {path} appeared:\n{process.stdout.read()[-3000:]}"
        assert time.monotonic() < deadline, f"{path} did not appear within {seconds} s"
        time.sleep(0.1)


class PauseOnce(L.Callback):
    """A slow moment in which a user stops the run with SIGTERM: at training step ``step`` (of the run with
    ``latent``, if given) the first run to get there creates ``flag`` and waits for the signal."""

    def __init__(self, flag: str, step: int, latent: int | None = None) -> None:
        self.flag, self.step, self.latent = Path(flag), step, latent

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        if trainer.global_step != self.step or self.flag.exists():
            return
        if self.latent is not None and pl_module.latent_dim != self.latent:
            return
        self.flag.touch()
        deadline = time.monotonic() + 120
        while not trainer.received_sigterm and time.monotonic() < deadline:
            time.sleep(0.05)


TRUST_PAUSE = f"allowed_targets=[{__name__}.PauseOnce]"


def pause_once(flag: Path, step: int, latent: int | None = None) -> list[str]:
    """Overrides adding ``PauseOnce`` to a run's callbacks."""
    overrides = [f"+callbacks.pause._target_={__name__}.PauseOnce", f"+callbacks.pause.flag={flag}"]
    overrides.append(TRUST_PAUSE)  # a resume rebuilds it from the run folder
    return [*overrides, f"+callbacks.pause.step={step}"] + ([f"+callbacks.pause.latent={latent}"] if latent else [])


def quiet_trainer(**options) -> L.Trainer:
    """A CPU Trainer writing nothing: no logger, checkpoints, progress bar or model summary."""
    quiet = dict(logger=False, enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False)
    return L.Trainer(**{"accelerator": "cpu", "devices": 1, **quiet, **options})


def image_loader(images: torch.Tensor, batch_size: int) -> DataLoader:
    """Batches of ``images`` with zero labels, in order."""
    return DataLoader(TensorDataset(images, torch.zeros(len(images), dtype=torch.long)), batch_size=batch_size)


def idx_bytes(array: torch.Tensor) -> bytes:
    """The IDX file (the MNIST format) holding ``array`` as unsigned bytes."""
    header = bytes([0, 0, 0x08, array.dim()]) + b"".join(d.to_bytes(4, "big") for d in array.shape)
    return header + array.to(torch.uint8).numpy().tobytes()


def small_dcgan(latent_dim: int = 4, image_size: int = 32, width: int = 8, **options) -> GAN:
    """A narrow DCGAN (the networks of ``model=dcgan``, 8 channels wide) for unit tests."""
    networks = dcgan.Generator(latent_dim, image_size, width), dcgan.Discriminator(image_size, width)
    return GAN(*networks, latent_dim, **options)


CIFAR10_ARCHIVE = "cifar-10-python.tar.gz"
CIFAR10_BATCHES = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
CIFAR10_PER_BATCH = 3


def cifar10_batch(index: int) -> tuple[bytes, np.ndarray, list[int]]:
    """Batch ``index`` of a generated CIFAR-10 archive as the official one stores it (a protocol-2 dict with
    byte-string keys), its images (3, 3, 32, 32) and labels: image ``k`` has red = 10 * index + k, green = 100 + k,
    blue = 200 + index in every pixel."""
    images = np.zeros((CIFAR10_PER_BATCH, 3, 32, 32), dtype=np.uint8)
    for k in range(CIFAR10_PER_BATCH):
        images[k, 0], images[k, 1], images[k, 2] = 10 * index + k, 100 + k, 200 + index
    labels = [(index + k) % 10 for k in range(CIFAR10_PER_BATCH)]
    content = {
        b"batch_label": f"batch {index}".encode(),
        b"labels": labels,
        b"data": images.reshape(CIFAR10_PER_BATCH, 3072),  # rows: 1024 red, 1024 green, 1024 blue values
        b"filenames": [f"image_{index}_{k}.png".encode() for k in range(CIFAR10_PER_BATCH)],
    }
    return pickle.dumps(content, protocol=2), images, labels


def write_cifar10_archive(path: Path, replace: dict[str, bytes] | None = None) -> None:
    """A tar.gz of the official layout (cifar-10-batches-py/data_batch_1..5, test_batch); ``replace``: other
    content for some batches."""
    with tarfile.open(path, "w:gz") as archive:
        for index, name in enumerate(CIFAR10_BATCHES):
            content = (replace or {}).get(name) or cifar10_batch(index)[0]
            member = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            member.size = len(content)
            archive.addfile(member, io.BytesIO(content))


def place_cifar10_archive(folder: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """``folder`` holding a generated archive, registered as cifar10 with that archive's md5 in place of the
    official one (for this test only)."""
    folder.mkdir(parents=True, exist_ok=True)
    write_cifar10_archive(folder / CIFAR10_ARCHIVE)
    md5 = hashlib.md5((folder / CIFAR10_ARCHIVE).read_bytes()).hexdigest()
    official = provision.DATASETS["cifar10"]
    monkeypatch.setitem(
        provision.DATASETS, "cifar10", DatasetSpec(**{**official.__dict__, "md5": {CIFAR10_ARCHIVE: md5}})
    )
    return folder


def mlp_vae(latent_dim: int = 20, hidden_dims: tuple[int, ...] = (500,), **options) -> VAE:
    """The VAE with the networks of ``model=vae`` (784-500-latent unless ``hidden_dims`` says otherwise), built in
    the config's order (encoder, then decoder) for unit tests."""
    return VAE(MLPEncoder(latent_dim, hidden_dims), MLPDecoder(latent_dim, hidden_dims), latent_dim, **options)

"""One training-throughput measurement of ``throughput.py``, run in a child process of its own.

``measure`` returns a rate (images/s, GFLOP/s or FLOPs per image) and the process's peak memory (the IWAE's
also its FLOPs per image, the matmul rate measured beside it and the load average). Every path
fits the model of the composed training config with Lightning: ``genmodels.train.train`` (framework), a bare
``Trainer.fit`` on ready-made in-memory batches (raw) or on torchvision's per-sample PIL pipeline (classic).
"""

from __future__ import annotations

import functools
import itertools
import os
import resource
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import lightning as L
import torch
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate
from omegaconf import DictConfig
from torch.utils.flop_counter import FlopCounterMode
from torchvision import datasets, transforms

from genmodels.data.provision import raw_dir
from genmodels.metrics.likelihood import dataset_iwae_nll, iwae_log_likelihood
from genmodels.runs.loading import pick_device
from genmodels.train import train

REPO = Path(__file__).resolve().parents[1]
MODELS = {"vae": "experiment=report_vae_latent20", "dcgan": "experiment=report_dcgan"}
IWAE_MODELS = {"vae": "experiment=binarized_vae", "conv_vae": "experiment=binarized_conv_vae"}  # latent 50 each
IWAE_K = 5000


def training_config(model_name: str, device: torch.device, overrides: Sequence[str] = ()) -> DictConfig:
    """The composed ``genmodels.train`` config of a benchmarked model on ``device``, with ``overrides``.

    ``debug=tiny`` leaves out figures and logging; the sample scores (evaluation, not training) go too.
    """
    size = ["data.image_size=32"] if model_name == "dcgan" and device.type == "cpu" else []
    untimed = ["debug=tiny", "++callbacks.sample_quality=null", "monitor.metric=null"]
    with initialize_config_dir(str(REPO / "configs"), version_base="1.3"):
        experiment = (MODELS | IWAE_MODELS)[model_name]
        return compose("train", [experiment, *size, f"trainer.accelerator={device.type}", *untimed, *overrides])


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def images_per_second(
    step: Callable, batches: Iterable[torch.Tensor], device: torch.device, warmup: int, steps: int = 0, seconds=0.0
) -> float:
    """Rows per second of ``step`` on the batches after ``warmup`` ones, for ``steps`` batches or ``seconds``."""
    batches = iter(batches)
    for _ in range(warmup):
        step(next(batches))
    synchronize(device)
    count, done, started = 0, 0, time.perf_counter()
    while done < steps or time.perf_counter() - started < seconds:
        x = next(batches)
        step(x)
        count, done = count + len(x), done + 1
    synchronize(device)
    return count / (time.perf_counter() - started)


def matmul_gflops(device: torch.device, seconds: float = 1.0, dtype: torch.dtype = torch.float32) -> float:
    """Sustained matmul rate of this device (float32 unless ``dtype``): 2048x2048 products, 2 * 2048**2 FLOPs a row."""
    a, b = (torch.randn(2048, 2048, device=device, dtype=dtype) for _ in range(2))
    return images_per_second(lambda x: x @ b, itertools.repeat(a), device, 3, seconds=seconds) * 2 * 2048**2 / 1e9


def fit_rate(cfg: DictConfig, loader: Iterable, device: torch.device, steps: int, warmup: int) -> float:
    """Images per second of Lightning's ``Trainer.fit`` of the configured model on ``loader``'s batches."""
    timer = StepTimer(warmup, steps)
    trainer = L.Trainer(
        accelerator=device.type, devices=1, max_epochs=1, limit_train_batches=warmup + steps, limit_val_batches=0,
        logger=False, enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
        callbacks=[timer],
    )  # fmt: skip
    trainer.fit(instantiate(cfg.model), train_dataloaders=loader)
    return steps * cfg.data.batch_size / timer.elapsed(warmup, steps)


def measure_raw(cfg: DictConfig, device: torch.device, steps: int, warmup: int) -> float:
    """The model's own training step on ready-made batches of the data's tensors (no per-sample work)."""
    datamodule = instantiate(cfg.data)
    datamodule.setup()
    images = datamodule.transform(datamodule.splits["train"].images[: (warmup + steps) * cfg.data.batch_size])
    dataset = torch.utils.data.TensorDataset(images, torch.zeros(len(images)))
    return fit_rate(cfg, torch.utils.data.DataLoader(dataset, cfg.data.batch_size, shuffle=True), device, steps, warmup)


def classic_loader(cfg: DictConfig, device: torch.device, root: str) -> torch.utils.data.DataLoader:
    """torchvision's MNIST with per-sample PIL transforms, as the pytorch/examples scripts load it."""
    data = cfg.data
    pipeline = [transforms.Resize(data.image_size)] if data.image_size != 28 else []
    pipeline.append(transforms.ToTensor())
    if data.pixel_range == "symmetric":
        pipeline.append(transforms.Normalize((0.5,), (0.5,)))
    (Path(root) / "MNIST").mkdir()  # torchvision's layout: <root>/MNIST/raw
    (Path(root) / "MNIST" / "raw").symlink_to(raw_dir(data.data_dir, data.dataset).resolve())
    dataset = datasets.MNIST(root, train=True, transform=transforms.Compose(pipeline))
    workers = {"num_workers": 1, "pin_memory": True} if device.type == "cuda" else {}
    return torch.utils.data.DataLoader(dataset, batch_size=data.batch_size, shuffle=True, **workers)


def measure_classic(cfg: DictConfig, device: torch.device, steps: int, warmup: int) -> float:
    with tempfile.TemporaryDirectory() as root:
        return fit_rate(cfg, classic_loader(cfg, device, root), device, steps, warmup)


class StepTimer(L.Callback):
    """Times training batches ``warmup`` to ``warmup + steps - 1``, the device synchronized."""

    def __init__(self, warmup: int, steps: int) -> None:
        self.warmup, self.last, self.started, self.seconds = warmup, warmup + steps - 1, 0.0, None

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx: int) -> None:
        if batch_idx == self.warmup:
            synchronize(pl_module.device)
            self.started = time.perf_counter()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx: int) -> None:
        if batch_idx == self.last:
            synchronize(pl_module.device)
            self.seconds = time.perf_counter() - self.started

    def elapsed(self, warmup: int, steps: int) -> float:
        if self.seconds is None:
            raise RuntimeError(f"an epoch is shorter than {warmup} + {steps} batches: time fewer steps")
        return self.seconds


def measure_framework(model_name: str, device: torch.device, steps: int, warmup: int, overrides: Sequence[str]):
    timer = f"+callbacks.step_timer={{_target_:{__name__}.StepTimer,warmup:{warmup},steps:{steps}}}"
    epoch = ["test=false", f"trainer.limit_train_batches={warmup + steps}", "trainer.limit_val_batches=0"]
    # A real run's logging cadence (configs/trainer/default.yaml, and the raw path's Trainer default), not
    # debug=tiny's every step: logging and the loss guard's reads on every step are no cost of a training run.
    epoch.append("trainer.log_every_n_steps=50")
    with tempfile.TemporaryDirectory(ignore_cleanup_errors=True) as out:
        cfg = training_config(model_name, device, [f"paths.output_dir={out}", *epoch, timer, *overrides])
        trainer = train(cfg)[1]["trainer"]
    timer = next(callback for callback in trainer.callbacks if isinstance(callback, StepTimer))
    return steps * cfg.data.batch_size / timer.elapsed(warmup, steps)


def flops_per_image(cfg: DictConfig, device: torch.device, steps: int, warmup: int) -> float:
    """FLOPs of one training step per image (matmuls and convolutions, forward and backward)."""
    x = instantiate(cfg.data).transform(torch.randint(0, 256, (cfg.data.batch_size, 28, 28), dtype=torch.uint8))
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, torch.zeros(len(x))), len(x))
    with FlopCounterMode(display=False) as counter:
        fit_rate(cfg, loader, device, steps=1, warmup=0)
    return counter.get_total_flops() / len(x)


def measure_iwae(cfg: DictConfig, device: torch.device, images: int, warmup: int) -> dict:
    """Test images per second of the IWAE at k = IWAE_K (random binary images, batches of the evaluation's 20), its
    FLOPs per image and the float32 matmul rate measured just before and after in this process."""
    model = instantiate(cfg.model).to(device).eval().to(memory_format=torch.channels_last)  # as genmodels.evaluate
    x = torch.rand(images, 1, cfg.data.image_size, cfg.data.image_size, device=device).bernoulli()
    with FlopCounterMode(display=False) as counter:  # decoding dominates: FLOPs grow like k
        iwae_log_likelihood(x[:1], model, k=100)
    iwae = functools.partial(dataset_iwae_nll, model=model, k=IWAE_K, batch_size=min(images, 20))
    before = matmul_gflops(device)
    rate = images_per_second(iwae, [x], device, warmup=0, steps=1)
    return {
        "rate": rate,
        "flops_per_image": counter.get_total_flops() * IWAE_K / 100,
        "matmul_gflops": (before + matmul_gflops(device)) / 2,
        "load_average": os.getloadavg()[0],
    }


def measure(what: str, device: str, model: str = "vae", steps: int = 0, warmup: int = 0, overrides=()) -> dict:
    """``what``: matmul, framework, raw, classic, flops or iwae (``steps``: its number of images; also its FLOPs
    per image, the matmul rate in the same process and the load average)."""
    torch.manual_seed(0)
    on = pick_device(device)
    if what == "matmul":
        rate = matmul_gflops(on)
    elif what == "framework":
        rate = measure_framework(model, on, steps, warmup, overrides)
    else:
        by_name = {"raw": measure_raw, "classic": measure_classic, "flops": flops_per_image, "iwae": measure_iwae}
        rate = by_name[what](training_config(model, on, overrides), on, steps, warmup)
    result = rate if isinstance(rate, dict) else {"rate": rate}
    if on.type == "cuda":
        return {**result, "peak_memory_mb": torch.cuda.max_memory_allocated(on) / 2**20}
    return {**result, "peak_memory_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}  # KiB

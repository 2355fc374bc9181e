"""Speed options of a training run: CPU threads, ``torch.compile`` and the channels_last memory format."""

from __future__ import annotations

import logging
import os
import shutil

import lightning as L
import torch
from omegaconf import DictConfig

from genmodels.contract import NamesNetworks, require
from genmodels.errors import ConfigError

log = logging.getLogger(__name__)

COMPILE_MODES = (None, "default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")


def check_speed_options(speed: DictConfig) -> None:
    """Raise ``ConfigError`` for a ``speed`` value that cannot work, naming the key and what is allowed."""
    threads = speed.get("num_threads")
    if threads is not None and threads < 1:
        raise ConfigError(f"speed.num_threads must be a positive integer, or null for one per core; got {threads!r}")
    if speed.get("compile_mode") not in COMPILE_MODES:
        allowed = ", ".join("null" if mode is None else mode for mode in COMPILE_MODES)
        raise ConfigError(f"speed.compile_mode must be one of {allowed}; got {speed.get('compile_mode')!r}")
    if not speed.compile:
        return
    backends = sorted({*torch.compiler.list_backends(), "eager", "aot_eager"})
    backend = speed.get("compile_backend")
    if backend not in backends:
        raise ConfigError(f"speed.compile_backend must be one of {backends}, got {backend!r}")
    if backend == "inductor" and not any(shutil.which(c) for c in (os.environ.get("CXX", "g++"), "c++", "clang++")):
        raise ConfigError(
            "speed.compile=true with the inductor backend needs a C/C++ compiler, and none was found on PATH. "
            "Fix: install one (e.g. apt-get install g++), or set speed.compile=false."
        )


def apply_speed_options(model: L.LightningModule, speed: DictConfig) -> None:
    """Set the CPU threads; switch the model's networks to channels_last and/or compile them (in place)."""
    if speed.get("num_threads"):
        torch.set_num_threads(speed.num_threads)
    if speed.channels_last:
        model.to(memory_format=torch.channels_last)
    if speed.compile:
        require(model, NamesNetworks, "speed.compile=true", "set speed.compile=false")
        for name, network in model.networks().items():
            network.compile(mode=speed.compile_mode, backend=speed.compile_backend)
            log.info(
                "Compiling %s (%s backend, mode %s) at its first call",
                name,
                speed.compile_backend,
                speed.compile_mode or "default",
            )

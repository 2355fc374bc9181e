"""Start-up checks on configuration values, failing with the key and the allowed values."""

from __future__ import annotations

from collections.abc import Iterable

import torch
from omegaconf import DictConfig

from genmodels.errors import ConfigError


def require_positive_int(key: str, value: object) -> None:
    """Raise ``ConfigError`` unless ``value`` is an integer >= 1."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"{key} must be a positive integer (1, 2, ...), got {value!r}")


def require_positive_ints(key: str, values: Iterable[object]) -> list[int]:
    """``values`` as a list, or ``ConfigError`` unless it is a non-empty list of integers >= 1 (layer widths)."""
    values = list(values)
    if not values or any(isinstance(v, bool) or not isinstance(v, int) or v < 1 for v in values):
        raise ConfigError(f"{key} must be a non-empty list of positive integers, got {values}")
    return values


def require_probability(key: str, value: float) -> None:
    """Raise ``ConfigError`` unless ``value`` is in [0, 1]."""
    if not 0.0 <= value <= 1.0:
        raise ConfigError(f"{key} must be in [0, 1], got {value!r}")


def validate_train_config(cfg: DictConfig) -> None:
    """Checks that span several config groups, run before anything is built or trained."""
    require_positive_int("latent", cfg.get("latent"))
    for epoch in cfg.figures.get("sample_epochs") or []:
        require_positive_int("figures.sample_epochs entries", epoch)
    max_epochs = cfg.trainer.get("max_epochs")
    if max_epochs is not None and (isinstance(max_epochs, bool) or not isinstance(max_epochs, int) or max_epochs < -1):
        raise ConfigError(f"trainer.max_epochs must be a positive integer, or -1 for no limit; got {max_epochs!r}")
    if cfg.trainer.get("accelerator") in ("gpu", "cuda") and not torch.cuda.is_available():
        raise ConfigError(
            f"trainer.accelerator={cfg.trainer.accelerator} needs a CUDA GPU, and PyTorch sees none on this machine. "
            "Fix: trainer=default (the GPU when there is one, else the CPU) or trainer=cpu."
        )
    if max_epochs == 0:
        raise ConfigError(
            "trainer.max_epochs must be at least 1, got 0: a run without an epoch trains, draws and checkpoints "
            "nothing. For a quick check of the whole pipeline use trainer.fast_dev_run=true (one batch of each split)."
        )

"""What a finished run's ``metrics.json`` says beyond its metrics: the device and the targets of its likelihood."""

from __future__ import annotations

import platform
from typing import Any

import lightning as L
import torch

from genmodels.contract import HasLikelihood


def device_description(trainer: L.Trainer) -> str:
    """A short description of the device the run used, e.g. 'cuda (NVIDIA H100)' or 'cpu (2 threads)'."""
    device = trainer.strategy.root_device
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    return f"{device.type} ({torch.get_num_threads()} threads, {platform.machine()})"


def targets_note(model: L.LightningModule, datamodule: Any) -> str:
    """Which targets the run's likelihood numbers belong to (the binarization); a GAN has no likelihood."""
    if isinstance(model, HasLikelihood):
        return datamodule.binarization_note
    return f"not applicable: {type(model).__name__} has no likelihood"


def scalar_metrics(metrics: dict[str, Any]) -> dict[str, float]:
    """Plain floats of the single-valued metrics, dropping anything that is not a number."""
    result = {}
    for key, value in metrics.items():
        if isinstance(value, torch.Tensor) and value.numel() == 1:
            value = value.item()
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            result[key] = float(value)
    return result

"""What a finished run reports: its device, its metrics file and its TensorBoard hyper-parameters."""

from __future__ import annotations

import json
import math
import platform
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.pytorch.loggers import TensorBoardLogger
from omegaconf import DictConfig, OmegaConf

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


def write_json(path: Path, payload: dict[str, Any]) -> Path:
    """Write a JSON file atomically (a half-written file never replaces a good one)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(path.suffix + ".partial")
    partial.write_text(json.dumps(payload, indent=2, sort_keys=True, default=_json_default) + "\n")
    partial.replace(path)
    return path


def flat_hparams(cfg: DictConfig, sections: tuple[str, ...] = ("model", "data", "trainer")) -> dict[str, Any]:
    """The resolved config sections as flat ``a.b.c`` keys with TensorBoard-friendly values."""
    flat: dict[str, Any] = {"seed": cfg.get("seed"), "latent": cfg.get("latent")}
    container = OmegaConf.to_container(cfg, resolve=True)

    def visit(prefix: str, node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key not in ("_target_", "_partial_"):
                    visit(f"{prefix}.{key}", value)
        else:
            flat[prefix] = node if isinstance(node, (int, float, str, bool)) else str(node)

    for section in sections:
        if section in container:
            visit(section, container[section])
    return flat


def log_hparams_with_metrics(trainer: L.Trainer, cfg: DictConfig, metrics: dict[str, float]) -> None:
    """Record hyper-parameters with the final metrics so TensorBoard's HParams tab can compare runs.

    Called after testing, when Lightning has closed the logger's event writer: logging opens a new one,
    whose events wait in a queue written by a background thread. Unless that writer is closed, the events
    still queued when the process exits are lost (the HParams entry of some runs was missing); so it is.
    """
    final = {f"hp/{key.replace('/', '_')}": value for key, value in metrics.items() if math.isfinite(value)}
    for logger in trainer.loggers:
        if isinstance(logger, TensorBoardLogger):
            logger.log_hyperparams(flat_hparams(cfg), metrics=final)
            logger.finalize("success")  # flushes and closes the writer


def _json_default(value: Any) -> Any:
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")

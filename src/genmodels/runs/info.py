"""What a finished run reports beyond its metrics: the device, the likelihood's targets, its hyper-parameters."""

from __future__ import annotations

import math
import platform
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


def likelihood_note(model: L.LightningModule) -> str | None:
    """The distribution of the pixels behind the run's likelihood numbers (a VAE's ``model.likelihood``)."""
    pixel_likelihood = getattr(model, "pixel_likelihood", None)
    return None if pixel_likelihood is None else pixel_likelihood.description


def scalar_metrics(metrics: dict[str, Any]) -> dict[str, float]:
    """Plain floats of the single-valued metrics, dropping anything that is not a number."""
    result = {}
    for key, value in metrics.items():
        if isinstance(value, torch.Tensor) and value.numel() == 1:
            value = value.item()
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            result[key] = float(value)
    return result


def flat_hparams(cfg: DictConfig, latent: int | None) -> dict[str, Any]:
    """The resolved model, data and trainer sections as flat ``a.b.c`` keys with TensorBoard-friendly values;
    ``latent`` is the size the model uses (``model.latent_dim``), which may differ from ``cfg.latent``."""
    flat: dict[str, Any] = {"seed": cfg.get("seed"), "latent": latent}
    container = OmegaConf.to_container(cfg, resolve=True)

    def visit(prefix: str, node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key not in ("_target_", "_partial_"):
                    visit(f"{prefix}.{key}", value)
        else:
            flat[prefix] = node if isinstance(node, (int, float, str, bool)) else str(node)

    for section in ("model", "data", "trainer"):
        if section in container:
            visit(section, container[section])
    return flat


def log_hparams_with_metrics(
    trainer: L.Trainer, cfg: DictConfig, metrics: dict[str, float], latent: int | None
) -> None:
    """Record hyper-parameters with the final metrics for TensorBoard's HParams tab, closing the writer that this
    opens after testing (else events still queued at exit are lost)."""
    final = {f"hp/{key.replace('/', '_')}": value for key, value in metrics.items() if math.isfinite(value)}
    for logger in trainer.loggers:
        if isinstance(logger, TensorBoardLogger):
            logger.log_hyperparams(flat_hparams(cfg, latent), metrics=final)
            logger.finalize("success")  # flushes and closes the writer

"""A run's hyper-parameters beside its final metrics in TensorBoard's HParams tab."""

from __future__ import annotations

import math
from typing import Any

import lightning as L
from lightning.pytorch.loggers import TensorBoardLogger
from omegaconf import DictConfig, OmegaConf


def flat_hparams(
    cfg: DictConfig, latent: int | None, sections: tuple[str, ...] = ("model", "data", "trainer")
) -> dict[str, Any]:
    """The resolved config sections as flat ``a.b.c`` keys with TensorBoard-friendly values; ``latent`` is the
    size the model uses (``model.latent_dim``), which a ``model.latent_dim=`` override may set apart from ``latent``."""
    flat: dict[str, Any] = {"seed": cfg.get("seed"), "latent": latent}
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


def log_hparams_with_metrics(
    trainer: L.Trainer, cfg: DictConfig, metrics: dict[str, float], latent: int | None = None
) -> None:
    """Record hyper-parameters with the final metrics so TensorBoard's HParams tab can compare runs.

    Called after testing, when Lightning has closed the logger's event writer: logging opens a new one,
    whose events wait in a queue written by a background thread. Unless that writer is closed, the events
    still queued when the process exits are lost (the HParams entry of some runs was missing); so it is.
    """
    final = {f"hp/{key.replace('/', '_')}": value for key, value in metrics.items() if math.isfinite(value)}
    for logger in trainer.loggers:
        if isinstance(logger, TensorBoardLogger):
            logger.log_hyperparams(flat_hparams(cfg, latent), metrics=final)
            logger.finalize("success")  # flushes and closes the writer

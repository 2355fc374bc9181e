"""The checkpoint of the best epoch, named as people count epochs."""

from __future__ import annotations

import lightning as L
import torch
from lightning.pytorch.callbacks import ModelCheckpoint


class BestEpochCheckpoint(ModelCheckpoint):
    """``ModelCheckpoint`` for a metric some epochs lack, with ``{epoch}`` in file names counted from 1."""

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self.has_monitored_metric(trainer):
            super().on_train_epoch_end(trainer, pl_module)

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self.has_monitored_metric(trainer):
            super().on_validation_end(trainer, pl_module)

    def has_monitored_metric(self, trainer: L.Trainer) -> bool:
        """Whether this epoch logged the monitored metric: one without it (a GAN scored every n epochs) is skipped,
        where Lightning would stop the run."""
        return self.monitor in (None, "epoch", "step") or self.monitor in trainer.callback_metrics  # Lightning adds
        # epoch and step to the logged metrics it compares

    def format_checkpoint_name(
        self, metrics: dict[str, torch.Tensor], filename: str | None = None, ver: int | None = None, prefix=None
    ) -> str:
        if "epoch" in metrics:
            metrics = {**metrics, "epoch": metrics["epoch"] + 1}
        return super().format_checkpoint_name(metrics, filename=filename, ver=ver, prefix=prefix)

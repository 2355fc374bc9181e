"""The checkpoint of the best epoch, named as people count epochs."""

from __future__ import annotations

import torch
from lightning.pytorch.callbacks import ModelCheckpoint


class BestEpochCheckpoint(ModelCheckpoint):
    """``ModelCheckpoint`` for a metric some epochs lack, with ``{epoch}`` in file names counted from 1."""

    def _save_topk_checkpoint(self, trainer, monitor_candidates: dict[str, torch.Tensor]) -> None:
        """Skip an epoch without the monitored metric (a GAN scored every n epochs); Lightning would stop the run."""
        if self.monitor is None or self.monitor in monitor_candidates:
            super()._save_topk_checkpoint(trainer, monitor_candidates)

    def format_checkpoint_name(
        self, metrics: dict[str, torch.Tensor], filename: str | None = None, ver: int | None = None, prefix=None
    ) -> str:
        if "epoch" in metrics:
            metrics = {**metrics, "epoch": metrics["epoch"] + 1}
        return super().format_checkpoint_name(metrics, filename=filename, ver=ver, prefix=prefix)

"""Common ground of the figure callbacks: where PNGs go, TensorBoard logging, capability checks."""

from __future__ import annotations

import logging
from pathlib import Path

import lightning as L
import torch

from genmodels.images import image_grid, log_image, save_grid

log = logging.getLogger(__name__)


class FigureCallback(L.Callback):
    """A callback that draws pictures with a model that offers the methods in ``needs``.

    Pictures are written as PNGs under ``output_dir`` and added to TensorBoard under ``figures/``.
    Only global rank zero draws.
    """

    needs: tuple[str, ...] = ("generate",)

    def __init__(self, output_dir: str) -> None:
        self.output_dir = Path(output_dir)
        self._warned = False

    def usable(self, trainer: L.Trainer, pl_module: L.LightningModule) -> bool:
        """Whether this callback should draw now (rank zero, and the model has what it needs)."""
        if not trainer.is_global_zero:
            return False
        missing = [name for name in self.needs if not hasattr(pl_module, name)]
        if missing and not self._warned:
            log.info("%s skipped: %s has no %s", type(self).__name__, type(pl_module).__name__, missing)
            self._warned = True
        return not missing

    def publish(self, trainer: L.Trainer, name: str, images: torch.Tensor, nrow: int = 8) -> Path:
        """Save pictures in [0, 1] as a grid PNG ``<output_dir>/<name>.png`` and log it to TensorBoard."""
        grid = image_grid(images, nrow=nrow)
        log_image(trainer, f"figures/{name}", grid)
        return save_grid(grid, self.output_dir / f"{name}.png")


def fixed_noise(count: int, dim: int, seed: int, device: torch.device) -> torch.Tensor:
    """The same standard-normal batch for a given seed on every call and device."""
    return torch.randn(count, dim, generator=torch.Generator().manual_seed(seed)).to(device)

"""Image helpers shared by every model: grids, PNG files (written atomically), multi-panel figures, TensorBoard
writers."""

from __future__ import annotations

import io
import math
from pathlib import Path

import lightning as L
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402
from lightning.pytorch.loggers import TensorBoardLogger  # noqa: E402
from torchvision.utils import make_grid, save_image  # noqa: E402

from genmodels.runs.atomic import write_atomic  # noqa: E402


def image_grid(images: torch.Tensor, nrow: int = 8, padding: int = 2) -> torch.Tensor:
    """(B, C, H, W) pictures in [0, 1] -> one (3, H', W') grid on the CPU, white between tiles."""
    return make_grid(images.detach().float().clamp(0, 1).cpu(), nrow=nrow, padding=padding, pad_value=1.0)


def tensorboards(trainer: L.Trainer) -> list:
    """The ``SummaryWriter`` of each TensorBoard logger of the trainer."""
    return [logger.experiment for logger in trainer.loggers if isinstance(logger, TensorBoardLogger)]


def save_figure(figure: plt.Figure, path: Path) -> Path:
    """Write a matplotlib figure as a PNG, atomically (``write_atomic``: a full disk leaves no half file), and close
    it."""
    buffer = io.BytesIO()
    try:
        figure.savefig(buffer, format="png", dpi=120, bbox_inches="tight")
    finally:
        plt.close(figure)
    return write_atomic(path, buffer.getvalue())


def save_grid(grid: torch.Tensor, path: Path) -> Path:
    """Write an image grid (3, H, W) in [0, 1] as a PNG, atomically."""
    buffer = io.BytesIO()
    save_image(grid, buffer, format="png")
    return write_atomic(path, buffer.getvalue())


def panels_figure(panels: dict[str, Path], title: str) -> plt.Figure:
    """Lay out labelled PNG files side by side in one figure."""
    figure, axes = plt.subplots(1, len(panels), figsize=(3.2 * len(panels), 3.4), squeeze=False)
    for axis, (label, path) in zip(axes.flat, panels.items()):
        axis.imshow(plt.imread(path), cmap="gray", interpolation="nearest")
        axis.set_title(label)
        axis.axis("off")
    figure.suptitle(title)
    figure.tight_layout()
    return figure


def grid_figure(images: torch.Tensor, nrow: int, title: str, column_labels: list[str]) -> plt.Figure:
    """(B, C, S, S) pictures in [0, 1] as an ``image_grid`` of ``nrow`` columns under ``title``, each column named
    by ``column_labels`` below it."""
    grid, side = image_grid(images, nrow=nrow), images.shape[-1]
    figure, axis = plt.subplots(figsize=(0.7 * nrow + 1, 0.7 * math.ceil(len(images) / nrow) + 1.2))
    axis.imshow(grid.permute(1, 2, 0).numpy(), interpolation="nearest")
    axis.set_xticks([2 + column * (side + 2) + side / 2 for column in range(nrow)], column_labels, fontsize=8)
    axis.set_yticks([])
    axis.tick_params(length=0)
    for spine in axis.spines.values():
        spine.set_visible(False)
    axis.set_title(title, fontsize=9)
    figure.tight_layout()
    return figure

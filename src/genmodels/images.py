"""Image helpers shared by every model: grids, PNG files (written atomically), multi-panel figures, TensorBoard
writers."""

from __future__ import annotations

import io
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

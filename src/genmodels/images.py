"""Image helpers shared by every model: grids, PNG figures, multi-panel figures, TensorBoard writers."""

from __future__ import annotations

from pathlib import Path

import lightning as L
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402
from lightning.pytorch.loggers import TensorBoardLogger  # noqa: E402
from torchvision.utils import make_grid  # noqa: E402


def image_grid(images: torch.Tensor, nrow: int = 8, padding: int = 2) -> torch.Tensor:
    """(B, C, H, W) pictures in [0, 1] -> one (3, H', W') grid on the CPU, white between tiles."""
    return make_grid(images.detach().float().clamp(0, 1).cpu(), nrow=nrow, padding=padding, pad_value=1.0)


def tensorboards(trainer: L.Trainer) -> list:
    """The ``SummaryWriter`` of each TensorBoard logger of the trainer."""
    return [logger.experiment for logger in trainer.loggers if isinstance(logger, TensorBoardLogger)]


def save_figure(figure: plt.Figure, path: Path) -> Path:
    """Write a matplotlib figure as a PNG and close it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(figure)
    return path


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

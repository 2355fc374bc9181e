"""Image helpers shared by every model: grids, PNG files, multi-panel figures, TensorBoard."""

from __future__ import annotations

from pathlib import Path

import lightning as L
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402
from lightning.pytorch.loggers import TensorBoardLogger  # noqa: E402
from torchvision.utils import make_grid, save_image  # noqa: E402


def image_grid(images: torch.Tensor, nrow: int = 8, padding: int = 2) -> torch.Tensor:
    """(B, C, H, W) pictures in [0, 1] -> one (3, H', W') grid on the CPU, white between tiles."""
    return make_grid(images.detach().float().clamp(0, 1).cpu(), nrow=nrow, padding=padding, pad_value=1.0)


def save_grid(grid: torch.Tensor, path: Path) -> Path:
    """Write a grid made by ``image_grid`` as a PNG, creating the folder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    save_image(grid, path)
    return path


def log_image(trainer: L.Trainer, tag: str, grid: torch.Tensor) -> None:
    """Add a (3, H, W) image to every TensorBoard logger of the trainer."""
    for logger in trainer.loggers:
        if isinstance(logger, TensorBoardLogger):
            logger.experiment.add_image(tag, grid, global_step=trainer.global_step)


def log_figure(trainer: L.Trainer, tag: str, figure: plt.Figure) -> None:
    """Add a matplotlib figure to every TensorBoard logger of the trainer."""
    for logger in trainer.loggers:
        if isinstance(logger, TensorBoardLogger):
            logger.experiment.add_figure(tag, figure, global_step=trainer.global_step, close=False)


def save_figure(figure: plt.Figure, path: Path) -> Path:
    """Write a matplotlib figure as a PNG and close it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(figure)
    return path


def panels_figure(panels: dict[str, Path | torch.Tensor], title: str, columns: int | None = None) -> plt.Figure:
    """Lay out labelled pictures (PNG paths or (3, H, W) grids) side by side in one figure."""
    columns = columns or len(panels)
    rows = -(-len(panels) // columns)
    figure, axes = plt.subplots(rows, columns, figsize=(3.2 * columns, 3.4 * rows), squeeze=False)
    for axis in axes.flat:
        axis.axis("off")
    for axis, (label, picture) in zip(axes.flat, panels.items()):
        array = plt.imread(picture) if isinstance(picture, Path) else picture.permute(1, 2, 0).numpy()
        axis.imshow(array, cmap="gray", interpolation="nearest")
        axis.set_title(label)
    figure.suptitle(title)
    figure.tight_layout()
    return figure

"""Pictures of the latent space: 2-D manifold (report fig. 6), latent scatter, interpolation (fig. 9)."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import lightning as L
import matplotlib.pyplot as plt
import torch
from scipy.stats import norm

from genmodels.callbacks.base import FigureCallback, figure_subject, fixed_noise
from genmodels.contract import EncodesImages
from genmodels.images import image_grid

log = logging.getLogger(__name__)

SLERP_MIN_SINE = 1e-3  # slerp needs sin(angle) clear of 0: angles within ~0.06 degrees of 0 or 180 use lerp


def lerp(z0: torch.Tensor, z1: torch.Tensor, steps: int) -> torch.Tensor:
    """Points on the straight line from z0 to z1 (each (D,)), endpoints included: (steps, D)."""
    t = torch.linspace(0, 1, steps, device=z0.device).unsqueeze(1)
    return (1 - t) * z0 + t * z1


def slerp(z0: torch.Tensor, z1: torch.Tensor, steps: int) -> torch.Tensor:
    """Points on the great-circle arc from z0 to z1: (steps, D); lerp where the angle is near 0 or pi."""
    cosine = torch.dot(z0, z1) / (z0.norm() * z1.norm())
    omega = torch.arccos(cosine.clamp(-1.0, 1.0))
    if torch.sin(omega) < SLERP_MIN_SINE:
        return lerp(z0, z1, steps)
    t = torch.linspace(0, 1, steps, device=z0.device).unsqueeze(1)
    return (torch.sin((1 - t) * omega) * z0 + torch.sin(t * omega) * z1) / torch.sin(omega)


def normal_quantiles(grid_size: int, quantile_range: Sequence[float]) -> tuple[torch.Tensor, torch.Tensor]:
    """An even grid of ``grid_size`` probabilities over ``quantile_range`` and their standard-normal quantiles."""
    low, high = quantile_range
    if not 0 < low < high < 1:
        raise ValueError(f"quantile_range must satisfy 0 < low < high < 1, got {list(quantile_range)}")
    probabilities = torch.linspace(low, high, grid_size)
    return probabilities, torch.as_tensor(norm.ppf(probabilities.numpy()), dtype=torch.float32)


def manifold_grid(grid_size: int, quantile_range: Sequence[float]) -> torch.Tensor:
    """2-D latent points at standard-normal quantiles of an even grid, rows from high to low z2: (grid_size**2, 2)."""
    values = normal_quantiles(grid_size, quantile_range)[1]
    z1, z2 = torch.meshgrid(values, values.flip(0), indexing="xy")
    return torch.stack([z1.reshape(-1), z2.reshape(-1)], dim=1)


class LatentManifold(FigureCallback):
    """Decoder means over a grid of 2-D latent points (only for latent_dim == 2), on axes whose ticks give the
    latent value and its standard-normal quantile."""

    TICKS = 5  # labelled grid points per axis, the first and the last among them

    def __init__(self, output_dir: str, grid_size: int = 20, quantile_range: Sequence[float] = (0.05, 0.95)) -> None:
        super().__init__(output_dir)
        self.grid_size, self.quantile_range = grid_size, tuple(quantile_range)
        manifold_grid(2, self.quantile_range)  # validate at start-up

    def on_fit_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not trainer.is_global_zero:
            return
        if pl_module.latent_dim != 2:
            log.info(
                "LatentManifold skipped: the manifold is drawn for latent=2 only (this run: %d)", pl_module.latent_dim
            )
            return
        z = manifold_grid(self.grid_size, self.quantile_range).to(pl_module.device)
        images = pl_module.generate(z).float().cpu()
        self.write_figure(trainer, "manifold", self.figure(images, figure_subject(trainer, pl_module)))

    def figure(self, images: torch.Tensor, subject: str) -> plt.Figure:
        """The (grid_size**2, C, S, S) decoder means as one picture, each axis ticked at grid points."""
        n, padding = self.grid_size, 2
        step = images.shape[-1] + padding  # pixels from one tile to the next
        probabilities, values = normal_quantiles(n, self.quantile_range)
        figure, axis = plt.subplots(figsize=(7.5, 8))
        axis.imshow(image_grid(images, nrow=n, padding=padding).permute(1, 2, 0).numpy(), interpolation="nearest")
        ticks = sorted({round(i * (n - 1) / (self.TICKS - 1)) for i in range(self.TICKS)})
        centres = [padding + i * step + (step - padding) / 2 for i in ticks]
        labels = [f"{values[i]:+.2f}\n({100 * probabilities[i]:.0f} %)" for i in ticks]
        axis.set_xticks(centres, labels)
        axis.set_yticks(centres, [labels[-1 - k] for k in range(len(ticks))])  # rows run from high to low z2
        axis.set(xlabel="$z_1$ (standard-normal quantile)", ylabel="$z_2$ (standard-normal quantile)")
        low, high = self.quantile_range
        axis.set_title(
            f"{subject}\ndecoder means on a {n}×{n} grid of latent points, "
            f"the normal quantiles {100 * low:.0f}–{100 * high:.0f} %",
            fontsize=10,
        )
        figure.tight_layout()
        return figure


class LatentScatter(FigureCallback):
    """Posterior means of test images coloured by class (only for latent_dim == 2)."""

    capability = EncodesImages

    def __init__(self, output_dir: str, num_points: int = 5000) -> None:
        super().__init__(output_dir)
        self.num_points = num_points

    def on_fit_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not trainer.is_global_zero or pl_module.latent_dim != 2:
            return
        x, labels = trainer.datamodule.example_batch("test", self.num_points, pl_module.device)
        means = pl_module.encode_mean(x).float().cpu()
        figure, axis = plt.subplots(figsize=(6.5, 5))
        colours = plt.get_cmap("tab10")
        for digit in labels.unique().tolist():
            chosen = labels.cpu() == digit
            axis.scatter(means[chosen, 0], means[chosen, 1], color=colours(digit), s=3, alpha=0.7, label=str(digit))
        axis.legend(title="class", markerscale=4, loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False)
        axis.set(xlabel="$z_1$", ylabel="$z_2$")
        axis.set_title(f"{figure_subject(trainer, pl_module)}\nposterior means of {len(x):,} test images", fontsize=10)
        self.write_figure(trainer, "latent_scatter", figure)


class LatentInterpolation(FigureCallback):
    """Rows of pictures between pairs of fixed noise vectors, linear and spherical, in one figure."""

    def __init__(self, output_dir: str, num_pairs: int = 6, steps: int = 10, seed: int = 1) -> None:
        super().__init__(output_dir)
        self.num_pairs, self.steps, self.seed = num_pairs, steps, seed

    def on_fit_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not trainer.is_global_zero:
            return
        ends = fixed_noise(2 * self.num_pairs, pl_module.latent_dim, self.seed, pl_module.device)
        panels = {}
        for label, path in (("linear", lerp), ("spherical (slerp)", slerp)):
            z = torch.cat([path(ends[2 * i], ends[2 * i + 1], self.steps) for i in range(self.num_pairs)])
            panels[label] = image_grid(pl_module.generate(z).float().cpu(), nrow=self.steps)
        figure, axes = plt.subplots(1, 2, figsize=(2 * 0.9 * self.steps, 0.9 * self.num_pairs + 0.6))
        for axis, (label, grid) in zip(axes, panels.items()):
            axis.imshow(grid.permute(1, 2, 0).numpy(), interpolation="nearest")
            axis.set_title(f"{label} interpolation")
            axis.axis("off")
        figure.suptitle(f"{figure_subject(trainer, pl_module)}: {self.num_pairs} pairs of fixed noise vectors")
        figure.tight_layout()
        self.write_figure(trainer, "interpolation", figure)

"""Sample and reconstruction grids (report figures 2-5 and 8)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import lightning as L
import torch

from genmodels.callbacks.base import FigureCallback, figure_subject, fixed_noise
from genmodels.contract import ReconstructsImages
from genmodels.images import panels_figure

log = logging.getLogger(__name__)


def figure_epochs(requested: Sequence[int] | None, max_epochs: int) -> tuple[list[int], list[int]]:
    """The 1-based epochs to draw (``None``: first, middle, last) and those dropped as beyond ``max_epochs``."""
    if requested is None:
        requested = [1] if max_epochs < 1 else [1, (max_epochs + 1) // 2, max_epochs]
    epochs = sorted({int(epoch) for epoch in requested})
    if max_epochs < 1:
        return epochs, []
    return [e for e in epochs if e <= max_epochs], [e for e in epochs if e > max_epochs]


class SampleGrid(FigureCallback):
    """Samples from one fixed noise batch (``seed``) after the chosen 1-based ``epochs`` and the last, and a figure
    comparing them; ``bernoulli_draws`` also draws Bernoulli pixels from the means (VAE)."""

    def __init__(
        self,
        output_dir: str,
        epochs: Sequence[int] | None = None,
        num_samples: int = 64,
        bernoulli_draws: bool = False,
        seed: int = 0,
    ) -> None:
        super().__init__(output_dir)
        self.requested_epochs = None if epochs is None else list(epochs)
        self.epochs: list[int] = []
        self.num_samples, self.bernoulli_draws, self.seed = num_samples, bernoulli_draws, seed
        self.variants = ("mean", "bernoulli") if bernoulli_draws else ("mean",)

    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.epochs, dropped = figure_epochs(self.requested_epochs, trainer.max_epochs)
        if dropped and trainer.is_global_zero:
            log.warning(
                f"figures.sample_epochs: epochs {dropped} are beyond trainer.max_epochs={trainer.max_epochs} and are "
                f"not drawn; drawing {self.epochs} and the last epoch"
            )

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        epoch = trainer.current_epoch + 1
        if epoch in self.epochs and trainer.is_global_zero:
            self.draw(trainer, pl_module, epoch)

    def on_fit_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        last = trainer.current_epoch  # epochs finished
        if last < 1 or not trainer.is_global_zero:
            return
        if not self._path(last, "mean").exists():
            self.draw(trainer, pl_module, last)
        subject = figure_subject(trainer, pl_module)
        for variant in self.variants:
            panels = {f"epoch {epoch}": self._path(epoch, variant) for epoch in [*self.epochs, last]}
            panels = {label: path for label, path in panels.items() if path.exists()}
            figure = panels_figure(panels, title=f"{subject}\n{self._what(pl_module, variant)}, from fixed noise")
            self.write_figure(trainer, f"samples_by_epoch_{variant}", figure)

    def draw(self, trainer: L.Trainer, pl_module: L.LightningModule, epoch: int) -> None:
        """Draw the fixed-noise samples of this epoch (means, and Bernoulli draws if asked)."""
        z = fixed_noise(self.num_samples, pl_module.latent_dim, self.seed, pl_module.device)
        means = pl_module.generate(z).float().cpu()
        self.write_images(trainer, self._name(epoch, "mean"), means)
        if self.bernoulli_draws:
            draws = torch.bernoulli(means, generator=torch.Generator().manual_seed(self.seed + epoch))
            self.write_images(trainer, self._name(epoch, "bernoulli"), draws)

    def _what(self, pl_module: L.LightningModule, variant: str) -> str:
        """What a variant's pictures are: a decoder's Bernoulli means, draws from them, or a generator's images."""
        if variant == "bernoulli":
            return f"{self.num_samples} Bernoulli draws from the decoder means"
        return f"{self.num_samples} {'decoder means' if isinstance(pl_module, ReconstructsImages) else 'samples'}"

    def _name(self, epoch: int, variant: str) -> str:
        return f"samples/epoch_{epoch:03d}_{variant}"

    def _path(self, epoch: int, variant: str) -> Path:
        return self.output_dir / f"{self._name(epoch, variant)}.png"


class ReconstructionGrid(FigureCallback):
    """Test images (odd rows) above their reconstructions (even rows), after fitting."""

    capability = ReconstructsImages

    def __init__(self, output_dir: str, num_images: int = 32, per_row: int = 16) -> None:
        super().__init__(output_dir)
        self.num_images, self.per_row = num_images, per_row

    def on_fit_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not trainer.is_global_zero:
            return
        x, _ = trainer.datamodule.example_batch("test", self.num_images, pl_module.device)
        originals = pl_module.to_unit_range(x).cpu()
        reconstructions = pl_module.reconstruct(x).float().cpu()
        pairs = zip(originals.split(self.per_row), reconstructions.split(self.per_row))  # a row of each, in turn
        rows = torch.cat([row for pair in pairs for row in pair])
        self.write_images(trainer, "reconstructions", rows, nrow=self.per_row)

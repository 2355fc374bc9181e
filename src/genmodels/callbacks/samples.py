"""Sample and reconstruction grids (report figures 2-5 and 8)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import lightning as L
import torch

from genmodels.callbacks.base import FigureCallback, figure_subject, fixed_noise
from genmodels.contract import EncodesImages, GeneratesConditionally, ReconstructsImages, label_arguments
from genmodels.images import grid_figure, panels_figure
from genmodels.sampling import generate

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
    comparing them; ``bernoulli_draws`` also draws Bernoulli pixels from the means (VAE). A conditional model's grid
    has one row per class and ``per_class`` columns, each column one code (the same z under every label)."""

    def __init__(
        self,
        output_dir: str,
        epochs: Sequence[int] | None = None,
        num_samples: int = 64,
        bernoulli_draws: bool = False,
        seed: int = 0,
        per_class: int = 10,
    ) -> None:
        super().__init__(output_dir)
        self.requested_epochs = None if epochs is None else list(epochs)
        self.epochs: list[int] = []
        self.num_samples, self.bernoulli_draws, self.seed = num_samples, bernoulli_draws, seed
        self.per_class = per_class
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
        if isinstance(pl_module, GeneratesConditionally):  # row k: class k; column j: code j
            z = fixed_noise(self.per_class, pl_module.latent_dim, self.seed, pl_module.device)
            labels = torch.arange(pl_module.num_classes).repeat_interleave(self.per_class)
            z, columns = z.repeat(pl_module.num_classes, 1), self.per_class
        else:
            z = fixed_noise(self.num_samples, pl_module.latent_dim, self.seed, pl_module.device)
            labels, columns = None, 8
        means = generate(pl_module, z, labels).float().cpu()
        self.write_images(trainer, self._name(epoch, "mean"), means, nrow=columns)
        if self.bernoulli_draws:
            draws = torch.bernoulli(means, generator=torch.Generator().manual_seed(self.seed + epoch))
            self.write_images(trainer, self._name(epoch, "bernoulli"), draws, nrow=columns)

    def _what(self, pl_module: L.LightningModule, variant: str) -> str:
        """What a variant's pictures are: a decoder's Bernoulli means, draws from them, or a generator's images."""
        if variant == "bernoulli":
            return f"{self.num_samples} Bernoulli draws from the decoder means"
        kind = "decoder means" if isinstance(pl_module, ReconstructsImages) else "samples"
        if isinstance(pl_module, GeneratesConditionally):
            return f"{kind}, a row per class, {self.per_class} codes"
        return f"{self.num_samples} {kind}"

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
        x, labels = trainer.datamodule.example_batch("test", self.num_images, pl_module.device)
        originals = pl_module.to_unit_range(x).cpu()
        reconstructions = pl_module.reconstruct(x, *label_arguments(pl_module, labels.to(x.device))).float().cpu()
        pairs = zip(originals.split(self.per_row), reconstructions.split(self.per_row))  # a row of each, in turn
        rows = torch.cat([row for pair in pairs for row in pair])
        self.write_images(trainer, "reconstructions", rows, nrow=self.per_row)


class ClassAnalogies(FigureCallback):
    """A conditional model's analogies (Kingma et al. 2014), after fitting: each row a test image, then its code
    (the posterior mean given its label) decoded under every label: the style kept, the class changed. An
    unconditional model draws none."""

    capability = EncodesImages

    def __init__(self, output_dir: str, num_images: int = 10) -> None:
        super().__init__(output_dir)
        self.num_images = num_images

    def on_fit_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not trainer.is_global_zero:
            return
        if not isinstance(pl_module, GeneratesConditionally):
            log.info("ClassAnalogies skipped: analogies are drawn for a conditional model (model.num_classes)")
            return
        x, labels = trainer.datamodule.example_batch("test", self.num_images, pl_module.device)
        pictures, classes = analogies(pl_module, x, labels.to(x.device)), pl_module.num_classes
        title = f"{figure_subject(trainer, pl_module)}\n{analogies_caption(classes)}"
        figure = grid_figure(pictures, classes + 1, title, ["test image", *map(str, range(classes))])
        self.write_figure(trainer, "analogies", figure)


def analogies_caption(num_classes: int) -> str:
    """What each row and column of the analogies figure is."""
    return (
        f"analogies: each row a test image, then its code (posterior mean) decoded under each label "
        f"0..{num_classes - 1}: the style kept, the class changed"
    )


def analogies(model: EncodesImages, x: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """For each image of ``x`` (B, C, S, S) with ``labels`` (B,): the image, then its code decoded under each of the
    model's K labels; (B * (K + 1), C, S, S) pictures in [0, 1] on the CPU, row by row."""
    classes = model.num_classes
    z = model.encode_mean(x, labels).repeat_interleave(classes, dim=0)  # (B * K, latent_dim): each code K times
    decoded = generate(model, z, torch.arange(classes, device=x.device).repeat(len(x))).float().cpu()
    rows = zip(model.to_unit_range(x).float().cpu().unsqueeze(1), decoded.view(len(x), classes, *decoded.shape[1:]))
    return torch.cat([torch.cat([original, row]) for original, row in rows])

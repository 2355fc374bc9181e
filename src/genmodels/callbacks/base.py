"""Common ground of the figure callbacks: where PNGs go, TensorBoard logging, the capability check."""

from __future__ import annotations

from pathlib import Path

import lightning as L
import matplotlib.pyplot as plt
import torch

from genmodels.contract import GeneratesImages, require
from genmodels.images import image_grid, save_figure, save_grid, tensorboards
from genmodels.models.objectives import CrossEntropy

LEAVE_OUT = "leave the callback out with ~callbacks.<its key> (e.g. ~callbacks.reconstructions) or callbacks=none"


class FigureCallback(L.Callback):
    """A callback that draws pictures with a model offering ``capability`` (a protocol of ``genmodels.contract``).

    A model without it stops the run when it starts. Pictures and figures are written as PNGs under ``output_dir``
    and added to TensorBoard under ``figures/``. Only global rank zero draws.
    """

    capability: type | None = GeneratesImages

    def __init__(self, output_dir: str) -> None:
        self.output_dir = Path(output_dir)

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        if self.capability is not None:
            require(pl_module, self.capability, f"the {type(self).__name__} callback", LEAVE_OUT)

    def write_images(self, trainer: L.Trainer, name: str, images: torch.Tensor, nrow: int = 8) -> Path:
        """Save pictures in [0, 1] as a grid PNG ``<output_dir>/<name>.png`` and log it to TensorBoard."""
        grid, path = image_grid(images, nrow=nrow), self.output_dir / f"{name}.png"
        for writer in tensorboards(trainer):
            writer.add_image(f"figures/{name}", grid, global_step=trainer.global_step)
        return save_grid(grid, path)

    def write_figure(self, trainer: L.Trainer, name: str, figure: plt.Figure) -> Path:
        """Save a matplotlib figure as ``<output_dir>/<name>.png`` (closing it) and log it to TensorBoard."""
        for writer in tensorboards(trainer):
            writer.add_figure(f"figures/{name}", figure, global_step=trainer.global_step, close=False)
        return save_figure(figure, self.output_dir / f"{name}.png")


def figure_subject(trainer: L.Trainer, pl_module: L.LightningModule) -> str:
    """What a run's figures show, for their titles: model and its networks, latent size, image size, epochs trained
    and, for a GAN, which generator draws, e.g. ``GAN (lean_gan), latent 64, 28×28, 7 epochs, moving-average
    generator`` (``GAN (lean_gan, WGAN-GP), ...`` for a GAN trained under another objective than the default
    cross-entropy; ``VAE (conv_vae), latent 50, ...`` for a VAE)."""
    size = trainer.datamodule.image_size
    generator = getattr(pl_module, "generator", None)  # a GAN's live network; it samples from generator_ema if set
    decoder = getattr(pl_module, "decoder", None)
    if generator is not None:
        networks = f" ({gan_kind(pl_module)})"
    else:
        networks = "" if decoder is None else f" ({network_module(decoder)})"
    words = [f"{type(pl_module).__name__}{networks}", f"latent {pl_module.latent_dim}", f"{size}×{size}"]
    words.append(f"{trainer.current_epoch} epoch{'s' * (trainer.current_epoch != 1)}")
    if generator is not None:
        moving = getattr(pl_module, "generator_ema", None) is not None
        words.append("moving-average generator" if moving else "live generator")
    return ", ".join(words)


def gan_kind(gan: L.LightningModule) -> str:
    """A GAN's networks (their module's name) and, unless it is the default cross-entropy, its objective."""
    networks = network_module(gan.generator)
    objective = gan.objective
    return networks if isinstance(objective, CrossEntropy) else f"{networks}, {objective.title}"


def network_module(network: torch.nn.Module) -> str:
    """The short name of the module that defines a network (``conv_vae``, ``lean_gan``): which networks a model has."""
    return type(network).__module__.rsplit(".", 1)[-1]


def fixed_noise(count: int, dim: int, seed: int, device: torch.device) -> torch.Tensor:
    """The same standard-normal batch for a given seed on every call and device."""
    return torch.randn(count, dim, generator=torch.Generator().manual_seed(seed)).to(device)

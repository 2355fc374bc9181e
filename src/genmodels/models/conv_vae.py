"""A small convolutional VAE: strided convolutions down to a code, transposed convolutions back to pixels; each of
the ``channels`` halves the side (28 -> 14 -> 7 with two). ``GaussianVAE`` supplies the loss, steps and capabilities.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from genmodels.errors import ConfigError
from genmodels.models.gaussian_vae import GaussianVAE
from genmodels.models.optimization import OptimizerFactory, SchedulerFactory


class ConvEncoder(nn.Module):
    """x (B, 1, S, S) -> mean and log-variance of q(z|x), each (B, latent_dim)."""

    def __init__(self, channels: Sequence[int], image_size: int, latent_dim: int) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        for n_in, n_out in zip([1, *channels], channels):  # each 4x4 convolution of stride 2 halves the side
            layers += [nn.Conv2d(n_in, n_out, kernel_size=4, stride=2, padding=1), nn.ReLU()]
        self.body = nn.Sequential(*layers, nn.Flatten())
        features = channels[-1] * (image_size // 2 ** len(channels)) ** 2
        self.mean = nn.Linear(features, latent_dim)
        self.logvar = nn.Linear(features, latent_dim)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.body(x)
        return self.mean(h), self.logvar(h)


class ConvDecoder(nn.Module):
    """z (B, latent_dim) -> Bernoulli logits (B, 1, S, S); the encoder's layers in reverse order."""

    def __init__(self, channels: Sequence[int], image_size: int, latent_dim: int) -> None:
        super().__init__()
        side = image_size // 2 ** len(channels)
        layers: list[nn.Module] = [nn.Linear(latent_dim, channels[-1] * side * side), nn.ReLU()]
        layers.append(nn.Unflatten(1, (channels[-1], side, side)))
        widths = [*reversed(channels), 1]
        for index, (n_in, n_out) in enumerate(zip(widths, widths[1:])):  # each doubles the side
            layers.append(nn.ConvTranspose2d(n_in, n_out, kernel_size=4, stride=2, padding=1))
            if index < len(channels) - 1:  # no activation on the logits
                layers.append(nn.ReLU())
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z)


class ConvVAE(GaussianVAE):
    """Convolutional VAE with a Bernoulli decoder, for single-channel images in [0, 1].

    Args:
        latent_dim: size of z.
        channels: output channels of the encoder's convolutions (the decoder mirrors them), e.g. [32, 64].
        image_size: side of the square input images; divisible by 2 ** len(channels).
        optimizer: a partial ``torch.optim`` optimizer (the config's ``model.optimizer``), called with the parameters.
        scheduler: a partial learning-rate scheduler (``lr_scheduler=...``), called with the optimizer; None: constant.
        beta, iwae_k: the loss of ``GaussianVAE`` (the -ELBO with the KL weighted by beta, or the IWAE bound).
    """

    def __init__(
        self,
        latent_dim: int = 20,
        channels: Sequence[int] = (32, 64),
        image_size: int = 28,
        optimizer: OptimizerFactory | None = None,
        scheduler: SchedulerFactory | None = None,
        beta: float = 1.0,
        iwae_k: int = 1,
    ) -> None:
        super().__init__(latent_dim, beta, iwae_k, optimizer, scheduler)
        if not channels or min(channels) < 1:
            raise ConfigError(f"model.channels must be a non-empty list of positive integers, got {list(channels)}")
        if image_size % 2 ** len(channels):
            raise ConfigError(
                f"model.channels={list(channels)} halves the image side {len(channels)} times, which "
                f"data.image_size={image_size} does not allow: use fewer channels or a side divisible by "
                f"{2 ** len(channels)}"
            )
        self.save_hyperparameters(ignore=["optimizer", "scheduler"], logger=False)  # checked by resume, evaluate
        self.encoder = ConvEncoder(channels, image_size, latent_dim)
        self.decoder = ConvDecoder(channels, image_size, latent_dim)

"""A small convolutional VAE's networks: strided convolutions down to a code, transposed convolutions back to pixels;
each of the ``widths`` halves the side (28 -> 14 -> 7 with two). The ``VAE`` of ``vae.py`` trains them."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from genmodels.errors import ConfigError
from genmodels.models.networks import layer_widths


def smallest_side(widths: Sequence[int], image_size: int, key: str) -> int:
    """The side of the smallest feature map, image_size / 2 ** len(widths); ``ConfigError`` naming ``key`` (the
    network's ``widths`` option) unless that divides evenly."""
    if image_size % 2 ** len(widths):
        raise ConfigError(
            f"{key}={list(widths)} halves the image side {len(widths)} times, which data.image_size={image_size} "
            f"does not allow: use fewer widths or a side divisible by {2 ** len(widths)}"
        )
    return image_size // 2 ** len(widths)


class ConvEncoder(nn.Module):
    """x (B, C, S, S) -> mean and log-variance of q(z|x), each (B, latent_dim); ``widths``: the output channels of
    the convolutions, e.g. [32, 64]; ``channels``: the images' (1 for MNIST)."""

    def __init__(
        self, latent_dim: int = 20, widths: Sequence[int] = (32, 64), image_size: int = 28, channels: int = 1
    ) -> None:
        super().__init__()
        widths = layer_widths(widths, "model.encoder.widths")
        side = smallest_side(widths, image_size, "model.encoder.widths")
        layers: list[nn.Module] = []
        for n_in, n_out in zip([channels, *widths], widths):  # each 4x4 convolution of stride 2 halves the side
            layers += [nn.Conv2d(n_in, n_out, kernel_size=4, stride=2, padding=1), nn.ReLU()]
        self.body = nn.Sequential(*layers, nn.Flatten())
        self.mean = nn.Linear(widths[-1] * side * side, latent_dim)
        self.logvar = nn.Linear(widths[-1] * side * side, latent_dim)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.body(x)
        return self.mean(h), self.logvar(h)


class ConvDecoder(nn.Module):
    """z (B, latent_dim) -> Bernoulli logits (B, C, S, S): the encoder's layers in reverse order (``widths``: the
    encoder's)."""

    def __init__(
        self, latent_dim: int = 20, widths: Sequence[int] = (32, 64), image_size: int = 28, channels: int = 1
    ) -> None:
        super().__init__()
        widths = layer_widths(widths, "model.decoder.widths")
        side = smallest_side(widths, image_size, "model.decoder.widths")
        layers: list[nn.Module] = [nn.Linear(latent_dim, widths[-1] * side * side), nn.ReLU()]
        layers.append(nn.Unflatten(1, (widths[-1], side, side)))
        sizes = [*reversed(widths), channels]
        for index, (n_in, n_out) in enumerate(zip(sizes, sizes[1:])):  # each doubles the side
            layers.append(nn.ConvTranspose2d(n_in, n_out, kernel_size=4, stride=2, padding=1))
            if index < len(widths) - 1:  # no activation on the logits
                layers.append(nn.ReLU())
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z)

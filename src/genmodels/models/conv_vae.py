"""A small convolutional VAE's networks: strided convolutions down to a code, transposed convolutions back to pixels;
each of the ``widths`` halves the side (28 -> 14 -> 7 with two). The ``VAE`` of ``vae.py`` trains them."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from genmodels.errors import ConfigError
from genmodels.models.conditioning import label_width, with_labels
from genmodels.models.networks import layer_widths
from genmodels.models.output_layer import OutputConvTranspose2d
from genmodels.models.pixel_likelihoods import decoder_channels


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
    """x (B, C, S, S) and, with ``num_classes``, labels (B,) (one-hot beside the convolutions' features) -> mean and
    log-variance of q(z|x[, y]), each (B, latent_dim); ``widths``: the output channels of the convolutions, e.g.
    [32, 64]; ``channels``: the images' (1 for MNIST)."""

    def __init__(
        self,
        latent_dim: int = 20,
        widths: Sequence[int] = (32, 64),
        image_size: int = 28,
        channels: int = 1,
        num_classes: int | None = None,
    ) -> None:
        super().__init__()
        widths = layer_widths(widths, "model.encoder.widths")
        side = smallest_side(widths, image_size, "model.encoder.widths")
        layers: list[nn.Module] = []
        for n_in, n_out in zip([channels, *widths], widths):  # each 4x4 convolution of stride 2 halves the side
            layers += [nn.Conv2d(n_in, n_out, kernel_size=4, stride=2, padding=1), nn.ReLU()]
        self.body = nn.Sequential(*layers, nn.Flatten())
        self.num_classes = num_classes
        features = widths[-1] * side * side + label_width(num_classes)
        self.mean = nn.Linear(features, latent_dim)
        self.logvar = nn.Linear(features, latent_dim)

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        h = with_labels(self.body(x), labels, self.num_classes)
        return self.mean(h), self.logvar(h)


class ConvDecoder(nn.Module):
    """z (B, latent_dim) and, with ``num_classes``, labels (B,) -> the ``likelihood``'s parameters (B, P * C, S, S)
    (Bernoulli logits, P = 1, by default; ``pixel_likelihoods``): the encoder's layers in reverse order (``widths``:
    the encoder's)."""

    def __init__(
        self,
        latent_dim: int = 20,
        widths: Sequence[int] = (32, 64),
        image_size: int = 28,
        channels: int = 1,
        num_classes: int | None = None,
        likelihood: str = "bernoulli",
    ) -> None:
        super().__init__()
        widths = layer_widths(widths, "model.decoder.widths")
        side = smallest_side(widths, image_size, "model.decoder.widths")
        self.num_classes, self.likelihood = num_classes, likelihood
        layers: list[nn.Module] = [
            nn.Linear(latent_dim + label_width(num_classes), widths[-1] * side * side),
            nn.ReLU(),
        ]
        layers.append(nn.Unflatten(1, (widths[-1], side, side)))
        sizes = [*reversed(widths), decoder_channels(channels, likelihood)]
        for n_in, n_out in zip(sizes[:-2], sizes[1:-1]):  # each doubles the side
            layers += [nn.ConvTranspose2d(n_in, n_out, kernel_size=4, stride=2, padding=1), nn.ReLU()]
        layers.append(OutputConvTranspose2d(sizes[-2], sizes[-1]))  # no activation on the likelihood's parameters
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return self.net(with_labels(z, labels, self.num_classes))

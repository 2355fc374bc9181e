"""The fully-connected GAN networks the report compares its DCGAN against (section 2.2), trained by the ``GAN``
of ``gan.py``; see docs/models.md."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from genmodels.errors import ConfigError


class MLPGenerator(nn.Module):
    """z (B, latent_dim) -> images (B, channels, S, S) in [-1, 1]."""

    def __init__(
        self,
        latent_dim: int = 100,
        hidden_dims: Sequence[int] = (128, 256, 512, 1024),
        image_size: int = 28,
        channels: int = 1,
    ) -> None:
        super().__init__()
        hidden_dims = list(hidden_dims)
        if not hidden_dims or min(hidden_dims) < 1:
            raise ConfigError(f"model.generator.hidden_dims needs positive integers, got {hidden_dims}")
        layers: list[nn.Module] = []
        for index, (n_in, n_out) in enumerate(zip([latent_dim, *hidden_dims], hidden_dims)):
            layers.append(nn.Linear(n_in, n_out))
            if index > 0:
                layers.append(nn.BatchNorm1d(n_out))
            layers.append(nn.LeakyReLU(0.2, inplace=True))
        layers += [nn.Linear(hidden_dims[-1], channels * image_size * image_size), nn.Tanh()]
        self.image_shape = (channels, image_size, image_size)
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z).view(-1, *self.image_shape)


class MLPDiscriminator(nn.Module):
    """Images (B, channels, S, S) -> scores (B,) (logits of "real" for the cross-entropy)."""

    def __init__(self, image_size: int = 28, hidden_dims: Sequence[int] = (512, 256), channels: int = 1) -> None:
        super().__init__()
        hidden_dims = list(hidden_dims)
        if not hidden_dims or min(hidden_dims) < 1:
            raise ConfigError(f"model.discriminator.hidden_dims needs positive integers, got {hidden_dims}")
        layers: list[nn.Module] = []
        for n_in, n_out in zip([channels * image_size * image_size, *hidden_dims], hidden_dims):
            layers += [nn.Linear(n_in, n_out), nn.LeakyReLU(0.2, inplace=True)]
        layers.append(nn.Linear(hidden_dims[-1], 1))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x.flatten(start_dim=1)).flatten().float()  # float32 logits for the losses

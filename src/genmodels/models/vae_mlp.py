"""The report's VAE networks: fully connected, 784-500-latent by default, trained by the ``VAE`` of ``vae.py``."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from genmodels.models.networks import layer_widths


def mlp(sizes: Sequence[int]) -> nn.Sequential:
    """Linear layers of the given sizes with ReLU between them (none after the last)."""
    layers = [layer for n_in, n_out in zip(sizes, sizes[1:]) for layer in (nn.Linear(n_in, n_out), nn.ReLU())]
    return nn.Sequential(*layers[:-1])


class MLPEncoder(nn.Module):
    """x (B, C, S, S) -> mean and log-variance of q(z|x), each (B, latent_dim); ``hidden_dims``: the hidden widths."""

    def __init__(
        self, latent_dim: int = 20, hidden_dims: Sequence[int] = (500,), image_size: int = 28, channels: int = 1
    ) -> None:
        super().__init__()
        hidden_dims = layer_widths(hidden_dims, "model.encoder.hidden_dims")
        self.body = nn.Sequential(mlp([channels * image_size * image_size, *hidden_dims]), nn.ReLU())
        self.mean = nn.Linear(hidden_dims[-1], latent_dim)
        self.logvar = nn.Linear(hidden_dims[-1], latent_dim)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.body(x.flatten(start_dim=1))
        return self.mean(h), self.logvar(h)


class MLPDecoder(nn.Module):
    """z (B, latent_dim) -> Bernoulli logits (B, C, S, S), the pixel means being their sigmoid; ``hidden_dims``: the
    encoder's hidden widths, which the decoder takes in reverse order (latent-500-784 by default)."""

    def __init__(
        self, latent_dim: int = 20, hidden_dims: Sequence[int] = (500,), image_size: int = 28, channels: int = 1
    ) -> None:
        super().__init__()
        hidden_dims = layer_widths(hidden_dims, "model.decoder.hidden_dims")
        self.shape = (channels, image_size, image_size)
        self.net = mlp([latent_dim, *reversed(hidden_dims), channels * image_size * image_size])

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z).view(-1, *self.shape)

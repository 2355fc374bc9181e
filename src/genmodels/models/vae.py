"""The VAE of the report: MLP encoder and decoder; the loss, steps and capabilities come from ``GaussianVAE``."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from genmodels.errors import ConfigError
from genmodels.models.gaussian_vae import GaussianVAE
from genmodels.models.optimization import OptimizerFactory, SchedulerFactory


def mlp(sizes: Sequence[int]) -> nn.Sequential:
    """Linear layers of the given sizes with ReLU between them (none after the last)."""
    layers = [layer for n_in, n_out in zip(sizes, sizes[1:]) for layer in (nn.Linear(n_in, n_out), nn.ReLU())]
    return nn.Sequential(*layers[:-1])


class Encoder(nn.Module):
    """x (B, 1, S, S) -> mean and log-variance of q(z|x), each (B, latent_dim)."""

    def __init__(self, input_dim: int, hidden_dims: Sequence[int], latent_dim: int) -> None:
        super().__init__()
        self.body = nn.Sequential(mlp([input_dim, *hidden_dims]), nn.ReLU())
        self.mean = nn.Linear(hidden_dims[-1], latent_dim)
        self.logvar = nn.Linear(hidden_dims[-1], latent_dim)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.body(x.flatten(start_dim=1))
        return self.mean(h), self.logvar(h)


class Decoder(nn.Module):
    """z (B, latent_dim) -> Bernoulli logits (B, 1, S, S); the pixel means are their sigmoid."""

    def __init__(self, latent_dim: int, hidden_dims: Sequence[int], image_size: int) -> None:
        super().__init__()
        self.image_size = image_size
        self.net = mlp([latent_dim, *hidden_dims, image_size * image_size])

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z).view(-1, 1, self.image_size, self.image_size)


class VAE(GaussianVAE):
    """VAE with an MLP encoder/decoder (784-500-latent by default, as in the report): ``hidden_dims`` are the
    encoder's hidden widths, mirrored by the decoder; ``beta``, ``iwae_k``, ``optimizer``, ``scheduler``: as in
    ``GaussianVAE``."""

    def __init__(
        self,
        latent_dim: int = 20,
        hidden_dims: Sequence[int] = (500,),
        image_size: int = 28,
        beta: float = 1.0,
        iwae_k: int = 1,
        optimizer: OptimizerFactory | None = None,
        scheduler: SchedulerFactory | None = None,
    ) -> None:
        super().__init__(latent_dim, beta, iwae_k, optimizer, scheduler)
        hidden_dims = list(hidden_dims)
        if not hidden_dims or min(hidden_dims) < 1:
            raise ConfigError(f"model.hidden_dims must be a non-empty list of positive integers, got {hidden_dims}")
        self.save_hyperparameters(ignore=["optimizer", "scheduler"], logger=False)
        self.encoder = Encoder(image_size * image_size, hidden_dims, latent_dim)
        self.decoder = Decoder(latent_dim, list(reversed(hidden_dims)), image_size)

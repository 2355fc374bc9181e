"""The report's VAE networks: fully connected, 784-500-latent by default, trained by the ``VAE`` of ``vae.py``."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from genmodels.models.conditioning import label_width, with_labels
from genmodels.models.networks import layer_widths
from genmodels.models.pixel_likelihoods import decoder_channels


def mlp(sizes: Sequence[int]) -> nn.Sequential:
    """Linear layers of the given sizes with ReLU between them (none after the last)."""
    layers = [layer for n_in, n_out in zip(sizes, sizes[1:]) for layer in (nn.Linear(n_in, n_out), nn.ReLU())]
    return nn.Sequential(*layers[:-1])


class MLPEncoder(nn.Module):
    """x (B, C, S, S) and, with ``num_classes``, labels (B,) (one-hot beside the pixels) -> mean and log-variance of
    q(z|x[, y]), each (B, latent_dim); ``hidden_dims``: the hidden widths."""

    def __init__(
        self,
        latent_dim: int = 20,
        hidden_dims: Sequence[int] = (500,),
        image_size: int = 28,
        channels: int = 1,
        num_classes: int | None = None,
    ) -> None:
        super().__init__()
        hidden_dims = layer_widths(hidden_dims, "model.encoder.hidden_dims")
        self.num_classes = num_classes
        inputs = channels * image_size * image_size + label_width(num_classes)
        self.body = nn.Sequential(mlp([inputs, *hidden_dims]), nn.ReLU())
        self.mean = nn.Linear(hidden_dims[-1], latent_dim)
        self.logvar = nn.Linear(hidden_dims[-1], latent_dim)

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.body(with_labels(x.flatten(start_dim=1), labels, self.num_classes))
        return self.mean(h), self.logvar(h)


class MLPDecoder(nn.Module):
    """z (B, latent_dim) and, with ``num_classes``, labels (B,) -> the ``likelihood``'s parameters (B, P * C, S, S)
    (Bernoulli logits, P = 1, by default; ``pixel_likelihoods``); ``hidden_dims``: the encoder's hidden widths, which
    the decoder takes in reverse order (latent-500-784 by default)."""

    def __init__(
        self,
        latent_dim: int = 20,
        hidden_dims: Sequence[int] = (500,),
        image_size: int = 28,
        channels: int = 1,
        num_classes: int | None = None,
        likelihood: str = "bernoulli",
    ) -> None:
        super().__init__()
        hidden_dims = layer_widths(hidden_dims, "model.decoder.hidden_dims")
        outputs = decoder_channels(channels, likelihood)
        self.shape, self.num_classes, self.likelihood = (outputs, image_size, image_size), num_classes, likelihood
        sizes = [latent_dim + label_width(num_classes), *reversed(hidden_dims), outputs * image_size * image_size]
        self.net = mlp(sizes)

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return self.net(with_labels(z, labels, self.num_classes)).view(-1, *self.shape)

"""The lean GAN networks of Lucic et al. (2018, "Are GANs Created Equal?") for MNIST: 52 MFLOP per image for a
forward pass of both (the 32x32 DCGAN: 69). Trained by the ``GAN`` of ``gan.py``; see docs/models.md."""

from __future__ import annotations

import torch
from torch import nn

from genmodels.errors import ConfigError
from genmodels.models.normalization import apply_spectral_norm, check_norm, feature_norm


def quarter_side(image_size: int) -> int:
    """The side after two 2x downsamplings; ``ConfigError`` unless ``image_size`` is a multiple of 4."""
    if image_size % 4:
        raise ConfigError(f"data.image_size must be a multiple of 4 for model=lean_gan, got {image_size}")
    return image_size // 4


class LeanGenerator(nn.Module):
    """z (B, latent_dim) -> images (B, channels, S, S) in [-1, 1]."""

    def __init__(
        self, latent_dim: int = 64, image_size: int = 28, width: int = 64, hidden: int = 1024, channels: int = 1
    ) -> None:
        super().__init__()
        side = quarter_side(image_size)
        self.net = nn.Sequential(
            nn.Linear(latent_dim, hidden), nn.BatchNorm1d(hidden), nn.ReLU(inplace=True),
            nn.Linear(hidden, 2 * width * side * side), nn.BatchNorm1d(2 * width * side * side), nn.ReLU(inplace=True),
            nn.Unflatten(1, (2 * width, side, side)),
            nn.ConvTranspose2d(2 * width, width, 4, 2, 1), nn.BatchNorm2d(width), nn.ReLU(inplace=True),
            nn.ConvTranspose2d(width, channels, 4, 2, 1), nn.Tanh(),
        )  # fmt: skip

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z)


class LeanDiscriminator(nn.Module):
    """Images (B, channels, S, S) -> scores (B,) (logits of "real" for the cross-entropy); ``norm`` after the hidden
    layers but the first (``normalization.NORMS``; spectral: on every layer)."""

    def __init__(
        self, image_size: int = 28, width: int = 64, hidden: int = 1024, channels: int = 1, norm: str = "batch"
    ) -> None:
        super().__init__()
        check_norm(norm)
        side = quarter_side(image_size)
        self.net = nn.Sequential(
            nn.Conv2d(channels, width, 4, 2, 1), nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(width, 2 * width, 4, 2, 1), *feature_norm(norm, 2 * width, spatial=True),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Flatten(),
            nn.Linear(2 * width * side * side, hidden), *feature_norm(norm, hidden, spatial=False),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Linear(hidden, 1),
        )  # fmt: skip
        if norm == "spectral":
            apply_spectral_norm(self.net)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).flatten().float()  # float32 logits for the losses, also under autocast

"""The DCGAN networks of the report (Radford et al. 2016, with BatchNorm and LeakyReLU(0.2) after every
convolution but the two output ones), trained by the ``GAN`` of ``gan.py``; see docs/models.md."""

from __future__ import annotations

import math

import torch
from torch import nn

from genmodels.errors import ConfigError
from genmodels.models.normalization import apply_spectral_norm, check_norm, feature_norm

DCGAN_IMAGE_SIZES = (32, 64)  # the sides its convolution stacks are built for: 4x4 doubled 3 or 4 times


def init_weights(module: nn.Module) -> None:
    """DCGAN initialisation, for ``net.apply``: conv weights N(0, 0.02); BatchNorm weight N(1, 0.02), bias 0."""
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
        nn.init.normal_(module.weight, 0.0, 0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.BatchNorm2d):
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)


def num_stages(image_size: int) -> int:
    """Number of 2x up-/down-sampling stages between 4x4 and ``image_size`` (3 for 32, 4 for 64)."""
    if image_size not in DCGAN_IMAGE_SIZES:
        raise ConfigError(
            f"data.image_size must be one of {list(DCGAN_IMAGE_SIZES)} for model=dcgan, got {image_size!r}"
        )
    return int(math.log2(image_size // 4))


def _norm_lrelu(channels: int, norm: str = "batch") -> list[nn.Module]:
    return [*feature_norm(norm, channels, spatial=True), nn.LeakyReLU(0.2, inplace=True)]


class Generator(nn.Module):
    """z (B, latent_dim) -> images (B, channels, S, S) in [-1, 1]. Feature maps: ``width * 2**(n-1)`` at 4x4
    (n = log2(S / 4)), halved at each doubling of the side (512-256-128-64 for S = 64 and width 64, as Radford et al.).
    """

    def __init__(self, latent_dim: int = 100, image_size: int = 64, width: int = 64, channels: int = 1) -> None:
        super().__init__()
        if width < 1:
            raise ConfigError(f"model.generator.width must be a positive integer, got {width}")
        stages = num_stages(image_size)
        features = width * 2 ** (stages - 1)
        layers: list[nn.Module] = [
            nn.ConvTranspose2d(latent_dim, features, 4, 1, 0, bias=False),
            *_norm_lrelu(features),
        ]
        for _ in range(stages - 1):
            layers += [nn.ConvTranspose2d(features, features // 2, 4, 2, 1, bias=False), *_norm_lrelu(features // 2)]
            features //= 2
        layers += [nn.ConvTranspose2d(features, channels, 4, 2, 1), nn.Tanh()]
        self.latent_dim, self.image_size = latent_dim, image_size
        self.net = nn.Sequential(*layers)
        self.apply(init_weights)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z.view(len(z), self.latent_dim, 1, 1))


class Discriminator(nn.Module):
    """Images (B, channels, S, S) -> scores (B,) (logits of "real" for the cross-entropy). Feature maps: ``width``
    after the first strided convolution, doubled at each halving of the side down to 4x4, then one 4x4 convolution
    to a single score; ``norm`` after every hidden convolution (``normalization.NORMS``; spectral: on every
    convolution, which then have biases as without a norm)."""

    def __init__(self, image_size: int = 64, width: int = 64, channels: int = 1, norm: str = "batch") -> None:
        super().__init__()
        if width < 1:
            raise ConfigError(f"model.discriminator.width must be a positive integer, got {width}")
        check_norm(norm)
        stages = num_stages(image_size)
        bias = norm in ("spectral", "none")  # a normalization layer has its own shift
        layers: list[nn.Module] = [nn.Conv2d(channels, width, 4, 2, 1, bias=bias), *_norm_lrelu(width, norm)]
        features = width
        for _ in range(stages - 1):
            layers += [nn.Conv2d(features, features * 2, 4, 2, 1, bias=bias), *_norm_lrelu(features * 2, norm)]
            features *= 2
        layers.append(nn.Conv2d(features, 1, 4, 1, 0))
        self.net = nn.Sequential(*layers)
        self.apply(init_weights)
        if norm == "spectral":
            apply_spectral_norm(self.net)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).flatten().float()  # float32 logits for the losses, also under autocast

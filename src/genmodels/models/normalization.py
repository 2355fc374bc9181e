"""The discriminators' normalization option (``model.discriminator.norm``): BatchNorm as the report's GANs, a
per-sample layer norm or none for a critic whose gradient penalty is per image, or spectral normalization of
every weight layer (Miyato et al. 2018)."""

from __future__ import annotations

from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from genmodels.errors import ConfigError

NORMS = ("batch", "layer", "spectral", "none")


def check_norm(norm: str) -> None:
    if norm not in NORMS:
        raise ConfigError(f"model.discriminator.norm must be one of {', '.join(NORMS)}; got {norm!r}")


def feature_norm(norm: str, features: int, spatial: bool) -> list[nn.Module]:
    """The layer normalizing a hidden layer's ``features`` channels, (B, C, H, W) if ``spatial`` else (B, C):
    BatchNorm, GroupNorm with one group (a layer norm over each sample's channels and pixels), or none."""
    if norm == "batch":
        return [nn.BatchNorm2d(features) if spatial else nn.BatchNorm1d(features)]
    if norm == "layer":
        return [nn.GroupNorm(1, features)]
    return []


def apply_spectral_norm(net: nn.Module) -> nn.Module:
    """``net`` with every convolution and linear layer's weight divided by its largest singular value."""
    for module in net.modules():
        if isinstance(module, (nn.Conv2d, nn.Linear)):
            spectral_norm(module)
    return net

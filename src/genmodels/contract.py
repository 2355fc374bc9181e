"""The model contract: one small ``Protocol`` per capability the framework may ask of a ``LightningModule`` (for the
figure callbacks, ``evaluate``, the speed options, the NaN guard). Each user checks for its capability with
``require`` when a run starts; Lightning's side of the contract is in docs/adding_a_model.md."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import torch
from torch import nn
from torch.distributions import Distribution

from genmodels.errors import ConfigError


@runtime_checkable
class GeneratesImages(Protocol):
    """Draws images from latent codes: sample grids, interpolation, the 2-D manifold, sample-quality metrics."""

    latent_dim: int

    def generate(self, z: torch.Tensor) -> torch.Tensor:
        """Codes (B, latent_dim) drawn from N(0, I) -> pictures (B, C, H, W) in [0, 1], without gradients."""


@runtime_checkable
class GeneratesConditionally(Protocol):
    """Draws images of a requested class: samples of one class (genmodels.sample label=<k>) or of every class."""

    latent_dim: int
    num_classes: int

    def generate(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Codes (B, latent_dim) drawn from N(0, I) and class indices (B,) int64 in [0, num_classes) -> pictures
        (B, C, H, W) in [0, 1], without gradients."""


@runtime_checkable
class ReconstructsImages(Protocol):
    """Reconstructs data-space images: the reconstruction grid."""

    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """Data-space images (B, C, H, W) -> their reconstructions as pictures in [0, 1]."""

    def to_unit_range(self, x: torch.Tensor) -> torch.Tensor:
        """Data-space images -> the same images as pictures in [0, 1]."""


@runtime_checkable
class EncodesImages(Protocol):
    """Maps images to latent codes: the latent scatter plot."""

    latent_dim: int

    def encode_mean(self, x: torch.Tensor) -> torch.Tensor:
        """Data-space images (B, C, H, W) -> a representative code of each, (B, latent_dim)."""


@runtime_checkable
class HasLikelihood(Protocol):
    """A latent-variable model p(x, z) = p(z) p(x|z) with an approximate posterior q(z|x): the -ELBO and IWAE.

    Any ``torch.distributions`` pair works (the bounds use ``rsample``, ``log_prob`` and any analytic KL).
    """

    def prior(self) -> Distribution:
        """p(z), with event shape (latent_dim,), on the model's device."""

    def posterior(self, x: torch.Tensor) -> Distribution:
        """q(z|x) for data-space images (B, C, H, W): batch shape (B,), event shape (latent_dim,)."""

    def log_likelihood(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """log p(x|z) in nats, summed over the dimensions of each image: (B, C, H, W), (B, latent_dim) -> (B,)."""


@runtime_checkable
class NamesNetworks(Protocol):
    """Names its trainable networks: ``speed.compile=true`` compiles each one."""

    def networks(self) -> dict[str, nn.Module]:
        """The networks by name, e.g. ``{"encoder": ..., "decoder": ...}``."""


class CapabilityError(ConfigError):
    """A callback, metric or option was configured for a model that lacks the capability it needs."""


def missing_members(model: object, capability: type) -> list[str]:
    """The attributes and methods of a capability protocol that ``model`` lacks."""
    names = set(getattr(capability, "__annotations__", {}))
    names |= {name for name, value in vars(capability).items() if callable(value) and not name.startswith("_")}
    return sorted(name for name in names if not hasattr(model, name))


def require(model: object, capability: type, user: str, fix: str) -> None:
    """Raise ``CapabilityError`` unless ``model`` offers ``capability``, naming the model, ``user`` (what needs the
    capability), the missing members and ``fix`` (how to do without it)."""
    if isinstance(model, capability):
        return
    name, missing = type(model).__name__, missing_members(model, capability)
    summary = (capability.__doc__ or "").strip().splitlines()[0].rstrip(".")
    raise CapabilityError(
        f"{user} needs a model that offers {capability.__name__} ({summary}); {name} has no "
        f"{', '.join(missing)}.\nFix: {fix}, or give {name} {', '.join(missing)} (docs/adding_a_model.md)."
    )

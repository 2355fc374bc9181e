"""What the networks a model is given (a GAN's generator and discriminator, a VAE's encoder and decoder) share: the
check of their layer widths, and the record of their class and size that the model's checkpoints keep, so that a
checkpoint of other networks is refused by name (``runs.checkpoints.check_same_model``)."""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn

from genmodels.errors import ConfigError


def layer_widths(widths: Sequence[int], key: str) -> list[int]:
    """``widths`` as a list, or ``ConfigError`` naming the config ``key`` unless it is non-empty and positive."""
    widths = list(widths)
    if not widths or min(widths) < 1:
        raise ConfigError(f"{key} must be a non-empty list of positive integers, got {widths}")
    return widths


def describe(network: nn.Module) -> dict[str, str | int]:
    """A network's class and parameter count: what the checkpoint records of it, to refuse a different one."""
    cls = type(network)
    return {"class": f"{cls.__module__}.{cls.__qualname__}", "parameters": sum(p.numel() for p in network.parameters())}

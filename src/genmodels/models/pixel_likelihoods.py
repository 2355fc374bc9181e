"""The VAE decoder's distribution p(x|z) over pixel values in [0, 1], chosen by ``model.likelihood``:

- ``bernoulli``: one logit per pixel value, the report's choice for MNIST (on grey levels, the cross-entropy: a
  continuous relaxation, not a probability of 8-bit images);
- ``discretized_logistic``: a mean and a log-scale per pixel value, the logistic's mass on the value's 8-bit bin
  (width 1/255, the two edge bins open to -inf and +inf) as in PixelCNN++ (Salimans et al. 2017) and Kingma et al.
  (2016): a proper distribution over the 256 levels, reported in bits per dimension.

The decoder outputs ``parameters`` maps per image channel, (B, parameters * C, S, S), parameter-major."""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
import torch.nn.functional as F

from genmodels.errors import ConfigError
from genmodels.models.losses import bernoulli_nll

LEVELS = 256  # 8-bit pixel values k / 255, k = 0..255
HALF_BIN = 0.5 / (LEVELS - 1)
MIN_LOG_SCALE = -7.0  # scales below e^-7 (a thousandth of a bin) only make the loss unstable
# Where the bin's CDF difference underflows in float32, its mass is the density at the centre times the bin width.
MIN_BIN_MASS = 1e-5


class PixelLikelihood(NamedTuple):
    name: str
    parameters: int  # decoder outputs per pixel value
    discrete: bool  # a distribution over the 256 levels: its nats convert to bits per dimension
    description: str


LIKELIHOODS = {
    "bernoulli": PixelLikelihood(
        "bernoulli", 1, False,
        "bernoulli: an independent Bernoulli per pixel value in [0, 1] (the cross-entropy on grey levels, a "
        "continuous relaxation: not a probability of 8-bit images)",
    ),
    "discretized_logistic": PixelLikelihood(
        "discretized_logistic", 2, True,
        "discretized_logistic: a logistic per pixel value, its mass on the value's 8-bit bin (width 1/255, edge "
        "bins open): a probability of 8-bit images",
    ),
}  # fmt: skip


def pixel_likelihood(name: str) -> PixelLikelihood:
    """The likelihood called ``name``, or ``ConfigError`` naming the choices."""
    if name not in LIKELIHOODS:
        raise ConfigError(f"model.likelihood must be one of {list(LIKELIHOODS)}, got {name!r}")
    return LIKELIHOODS[name]


def decoder_channels(channels: int, likelihood: str) -> int:
    """The decoder's output maps for images of ``channels`` channels under ``likelihood``."""
    return channels * pixel_likelihood(likelihood).parameters


def split_parameters(outputs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Decoder outputs (B, 2C, S, S) -> means and log-scales, (B, C, S, S) each, the log-scales clamped."""
    mean, log_scale = outputs.chunk(2, dim=1)
    return mean, log_scale.clamp(min=MIN_LOG_SCALE)


def discretized_logistic_log_prob(mean: torch.Tensor, log_scale: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """log P(x) of each pixel value x in [0, 1] (rounded to its 8-bit level) under a logistic(mean, e^log_scale)
    discretized to the 256 bins: the CDF difference across the bin, the edge bins open. Same shape as ``x``."""
    x = torch.round(x * (LEVELS - 1)) / (LEVELS - 1)
    inverse_scale = torch.exp(-log_scale)
    upper = inverse_scale * (x - mean + HALF_BIN)
    lower = inverse_scale * (x - mean - HALF_BIN)
    log_cdf_upper = -F.softplus(-upper)  # log sigmoid(upper): the first bin's mass
    log_survival_lower = -F.softplus(lower)  # log (1 - sigmoid(lower)): the last bin's mass
    mass = torch.sigmoid(upper) - torch.sigmoid(lower)
    centre = inverse_scale * (x - mean)
    log_density_centre = centre - log_scale - 2.0 * F.softplus(centre)
    interior = torch.where(
        mass > MIN_BIN_MASS,
        torch.log(mass.clamp(min=1e-12)),
        log_density_centre + math.log(2 * HALF_BIN),
    )
    first, last = x < HALF_BIN, x > 1 - HALF_BIN
    return torch.where(first, log_cdf_upper, torch.where(last, log_survival_lower, interior))


def log_likelihood(likelihood: str, outputs: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """log p(x|z) summed over pixels, (B,) float32, from the decoder's ``outputs`` for targets ``x`` (B, C, S, S)."""
    outputs = outputs.float()
    if likelihood == "bernoulli":
        return -bernoulli_nll(outputs, x)
    return discretized_logistic_log_prob(*split_parameters(outputs), x).flatten(start_dim=1).sum(dim=1)


def mean_pictures(likelihood: str, outputs: torch.Tensor) -> torch.Tensor:
    """The decoder's pictures in [0, 1], (B, C, S, S): the Bernoulli means, or the logistics' means."""
    if likelihood == "bernoulli":
        return torch.sigmoid(outputs)
    return split_parameters(outputs)[0].clamp(0.0, 1.0)


def bits_per_dimension(nats: torch.Tensor | float, dimensions: int) -> torch.Tensor | float:
    """Nats per image as bits per pixel value: nats / (C * H * W * ln 2)."""
    return nats / (dimensions * math.log(2))

"""Likelihood bounds of latent-variable models (``HasLikelihood``): the ELBO and the IWAE estimate L_k of log p(x).

L_k = E[log (1/k) sum_i p(x|z_i) p(z_i) / q(z_i|x)], z_i ~ q(z|x) (Burda et al. 2016), in nats per image.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple

import torch
from torch.distributions import Distribution, kl_divergence
from tqdm.auto import tqdm

from genmodels.contract import HasLikelihood

# Rows (images x samples) one chunk may hold: about 25 MB of 28x28 logits (larger chunks were no faster on a CPU).
DEFAULT_MAX_ROWS = 8192


def draw(distribution: Distribution, sample_shape: tuple[int, ...], generator: torch.Generator | None) -> torch.Tensor:
    """``distribution.rsample(sample_shape)`` drawing from ``generator`` (if given), the global RNG state restored."""
    if generator is None:
        return distribution.rsample(sample_shape)
    cuda = generator.device.type == "cuda"
    with torch.random.fork_rng(devices=[generator.device] if cuda else [], device_type=generator.device.type):
        if cuda:
            torch.cuda.set_rng_state(generator.get_state(), generator.device)
        else:
            torch.set_rng_state(generator.get_state())
        sample = distribution.rsample(sample_shape)
        generator.set_state(torch.cuda.get_rng_state(generator.device) if cuda else torch.get_rng_state())
    return sample


class ImportanceWeights(NamedTuple):
    """k draws z_i ~ q(z|x) for each of B images: their log importance weights and likelihoods, (k, B) each."""

    log_weights: torch.Tensor  # log w_i = log p(x|z_i) + log p(z_i) - log q(z_i|x)
    log_likelihood: torch.Tensor  # log p(x|z_i)


def importance_weights(
    x: torch.Tensor,
    model: HasLikelihood,
    k: int,
    posterior: Distribution | None = None,
    generator: torch.Generator | None = None,
) -> ImportanceWeights:
    """Draw k reparameterized samples from q(z|x) (default ``model.posterior(x)``) per image and weigh them."""
    posterior = model.posterior(x) if posterior is None else posterior
    z = draw(posterior, (k,), generator)  # (k, B, *event)
    batch = len(x)
    repeated = x.unsqueeze(0).expand(k, *x.shape).reshape(k * batch, *x.shape[1:])
    log_px_z = model.log_likelihood(repeated, z.reshape(k * batch, *z.shape[2:])).view(k, batch)
    return ImportanceWeights(log_px_z + model.prior().log_prob(z) - posterior.log_prob(z), log_px_z)


def iwae_bound(log_weights: torch.Tensor) -> torch.Tensor:
    """L_k = log (1/k) sum_i w_i of each image, from its k log importance weights: (k, B) -> (B,)."""
    return torch.logsumexp(log_weights, dim=0) - math.log(len(log_weights))


@torch.no_grad()
def iwae_log_likelihood(
    x: torch.Tensor,
    model: HasLikelihood,
    k: int,
    chunk_size: int | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """L_k of each image of a batch, (B,) float64, drawing ``chunk_size`` samples per image at a time."""
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    posterior = model.posterior(x)
    chunk_size = chunk_size or max(1, DEFAULT_MAX_ROWS // len(x))
    log_weights = [
        importance_weights(x, model, min(chunk_size, k - start), posterior, generator).log_weights.to(torch.float64)
        for start in range(0, k, chunk_size)
    ]
    return iwae_bound(torch.cat(log_weights))


@torch.no_grad()
def elbo(
    x: torch.Tensor, model: HasLikelihood, num_samples: int = 1, generator: torch.Generator | None = None
) -> torch.Tensor:
    """The ELBO per image, (B,) float64: E_q[log p(x|z)] over ``num_samples`` draws minus KL(q || p) (analytic if
    ``torch.distributions`` knows it, else estimated from the same draws)."""
    if num_samples < 1:
        raise ValueError(f"num_samples must be >= 1, got {num_samples}")
    posterior, prior = model.posterior(x), model.prior()
    try:
        analytic_kl: torch.Tensor | None = kl_divergence(posterior, prior).to(torch.float64)
    except NotImplementedError:
        analytic_kl = None
    reconstruction = torch.zeros(len(x), dtype=torch.float64, device=x.device)
    log_ratio = torch.zeros_like(reconstruction)  # sum of log q(z|x) - log p(z) over the draws
    for _ in range(num_samples):
        z = draw(posterior, (), generator)
        reconstruction += model.log_likelihood(x, z).to(torch.float64)
        if analytic_kl is None:
            log_ratio += (posterior.log_prob(z) - prior.log_prob(z)).to(torch.float64)
    kl = analytic_kl if analytic_kl is not None else log_ratio / num_samples
    return reconstruction / num_samples - kl


def dataset_negative_elbo(
    images: torch.Tensor,
    model: HasLikelihood,
    num_samples: int = 1,
    batch_size: int = 500,
    generator: torch.Generator | None = None,
    progress: bool = False,
) -> torch.Tensor:
    """-ELBO of every image of a (N, ...) tensor, in nats, (N,) float64 on the CPU."""
    return _per_image(images, batch_size, "-ELBO", progress, lambda x: -elbo(x, model, num_samples, generator))


def dataset_iwae_nll(
    images: torch.Tensor,
    model: HasLikelihood,
    k: int = 5000,
    batch_size: int = 20,
    chunk_size: int | None = None,
    generator: torch.Generator | None = None,
    progress: bool = False,
) -> torch.Tensor:
    """-L_k (the IWAE estimate of -log p(x)) of every image of a (N, ...) tensor, in nats, (N,) float64."""
    return _per_image(
        images, batch_size, f"IWAE k={k}", progress, lambda x: -iwae_log_likelihood(x, model, k, chunk_size, generator)
    )


def _per_image(
    images: torch.Tensor,
    batch_size: int,
    description: str,
    progress: bool,
    bound: Callable[[torch.Tensor], torch.Tensor],
) -> torch.Tensor:
    """``bound`` applied to the images in batches, with a progress bar: (N,) on the CPU."""
    values = []
    bar = tqdm(total=len(images), desc=description, unit="img", disable=not progress, leave=False)
    for start in range(0, len(images), batch_size):
        x = images[start : start + batch_size]
        values.append(bound(x).cpu())
        bar.update(len(x))
    bar.close()
    return torch.cat(values)


def mean_and_standard_error(values: torch.Tensor) -> tuple[float, float]:
    """Mean of per-image values and its standard error (std / sqrt(N))."""
    values = values.to(torch.float64)
    if len(values) < 2:
        return values.mean().item(), math.nan
    return values.mean().item(), (values.std() / math.sqrt(len(values))).item()

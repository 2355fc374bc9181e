"""Likelihood bounds of latent-variable models: the negative ELBO and the IWAE estimate of -log p(x).

Both work with any model given as two pieces, so that models with a known marginal likelihood
can check them:

- ``encoder(x) -> (mu, logvar)``: the diagonal Gaussian q(z|x), each (B, D);
- ``log_likelihood(x, z) -> (B,)``: log p(x|z) summed over the dimensions of x
  (``bernoulli_log_likelihood(decoder)`` builds it for the VAE's Bernoulli decoder).

The prior is p(z) = N(0, I). The importance-weighted estimate (Burda et al. 2016) is

    log p(x) >= L_k = E[ log (1/k) sum_i p(x|z_i) p(z_i) / q(z_i|x) ],  z_i ~ q(z|x),

which equals the ELBO for k = 1, never decreases with k (in expectation) and tends to log p(x).
The k samples are drawn in chunks and their log-sum-exp is accumulated in float64, so memory stays
bounded for any k. All values are nats per image.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from tqdm.auto import tqdm

from genmodels.models.losses import bernoulli_nll, gaussian_kl_to_standard_normal

Encoder = Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]]
LogLikelihood = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]

LOG_2PI = math.log(2.0 * math.pi)
# Rows (images x samples) one chunk may hold; 8192 rows of a 28x28 decoder are about 25 MB of logits
# (larger chunks were no faster on a CPU: the time goes into allocating and touching fresh memory).
DEFAULT_MAX_ROWS = 8192


def diagonal_gaussian_log_density(z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """log N(z; mu, diag exp(logvar)), summed over the last dimension."""
    return -0.5 * (LOG_2PI + logvar + (z - mu).square() * torch.exp(-logvar)).sum(dim=-1)


def standard_normal_log_density(z: torch.Tensor) -> torch.Tensor:
    """log N(z; 0, I), summed over the last dimension."""
    return -0.5 * (LOG_2PI + z.square()).sum(dim=-1)


def bernoulli_log_likelihood(decoder: Callable[[torch.Tensor], torch.Tensor]) -> LogLikelihood:
    """log p(x|z) for a decoder returning Bernoulli logits shaped like x (the project's VAE)."""

    def log_likelihood(x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        return -bernoulli_nll(decoder(z), x)

    return log_likelihood


@torch.no_grad()
def iwae_log_likelihood(
    x: torch.Tensor,
    encoder: Encoder,
    log_likelihood: LogLikelihood,
    k: int,
    chunk_size: int | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """The importance-weighted estimate L_k of log p(x) for each image of a batch, (B,) float64.

    ``chunk_size``: samples per image drawn at once (default: as many as fit ``DEFAULT_MAX_ROWS``).
    ``generator``: random source for the samples (on the device of ``x``).
    """
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    mu, logvar = encoder(x)
    batch = len(x)
    chunk_size = chunk_size or max(1, DEFAULT_MAX_ROWS // batch)
    std = torch.exp(0.5 * logvar)
    total = torch.full((batch,), -math.inf, dtype=torch.float64, device=x.device)
    for start in range(0, k, chunk_size):
        count = min(chunk_size, k - start)
        eps = torch.randn((count, *mu.shape), generator=generator, device=mu.device, dtype=mu.dtype)
        z = mu + std * eps  # (count, B, D)
        log_q = diagonal_gaussian_log_density(z, mu, logvar)
        log_prior = standard_normal_log_density(z)
        repeated = x.unsqueeze(0).expand(count, *x.shape).reshape(count * batch, *x.shape[1:])
        log_px_z = log_likelihood(repeated, z.reshape(count * batch, -1)).view(count, batch)
        log_weights = (log_px_z + log_prior - log_q).to(torch.float64)
        total = torch.logaddexp(total, torch.logsumexp(log_weights, dim=0))
    return total - math.log(k)


@torch.no_grad()
def elbo(
    x: torch.Tensor,
    encoder: Encoder,
    log_likelihood: LogLikelihood,
    num_samples: int = 1,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """The ELBO per image, (B,) float64: E_q[log p(x|z)] over ``num_samples`` draws minus the analytic KL."""
    if num_samples < 1:
        raise ValueError(f"num_samples must be >= 1, got {num_samples}")
    mu, logvar = encoder(x)
    std = torch.exp(0.5 * logvar)
    reconstruction = torch.zeros(len(x), dtype=torch.float64, device=x.device)
    for _ in range(num_samples):
        eps = torch.randn(mu.shape, generator=generator, device=mu.device, dtype=mu.dtype)
        reconstruction += log_likelihood(x, mu + std * eps).to(torch.float64)
    return reconstruction / num_samples - gaussian_kl_to_standard_normal(mu, logvar).to(torch.float64)


def dataset_negative_elbo(
    images: torch.Tensor,
    encoder: Encoder,
    log_likelihood: LogLikelihood,
    num_samples: int = 1,
    batch_size: int = 500,
    generator: torch.Generator | None = None,
    progress: bool = False,
) -> torch.Tensor:
    """-ELBO of every image of a (N, ...) tensor, in nats, (N,) float64 on the CPU."""
    return _per_image(
        images, batch_size, "-ELBO", progress, lambda x: -elbo(x, encoder, log_likelihood, num_samples, generator)
    )


def dataset_iwae_nll(
    images: torch.Tensor,
    encoder: Encoder,
    log_likelihood: LogLikelihood,
    k: int = 5000,
    batch_size: int = 20,
    chunk_size: int | None = None,
    generator: torch.Generator | None = None,
    progress: bool = False,
) -> torch.Tensor:
    """-L_k (the IWAE estimate of -log p(x)) of every image of a (N, ...) tensor, in nats, (N,) float64."""
    return _per_image(
        images,
        batch_size,
        f"IWAE k={k}",
        progress,
        lambda x: -iwae_log_likelihood(x, encoder, log_likelihood, k, chunk_size, generator),
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

"""Likelihood bounds of latent-variable models (``HasLikelihood``): the ELBO and the IWAE estimate L_k of log p(x),
each computed here only, for the training losses and the evaluation alike.

ELBO = E_q[log p(x|z)] - KL(q(z|x) || p(z)); L_k = E[log (1/k) sum_i p(x|z_i) p(z_i) / q(z_i|x)], z_i ~ q(z|x)
(Burda et al. 2016). Both in nats per image.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple

import torch
from torch.distributions import Distribution, kl_divergence
from tqdm.auto import tqdm

from genmodels.contract import HasLikelihood


def given(labels: torch.Tensor | None) -> tuple[torch.Tensor, ...]:
    """The extra argument of a conditional model's ``posterior`` and ``log_likelihood``: its labels, if any."""
    return () if labels is None else (labels,)


# Samples of one image decoded at once. Two runs at k = 5000 on 2 cores, channels-last, test images/s for chunks of
# 128 / 256 / 512 / 1,024: conv VAE 4.53 / 4.64 / 4.39 / 3.91 and 3.61 / 3.53 / 4.61 / 3.54, MLP VAE 10.7 / 13.2 /
# 13.5 / 14.4 and 10.3 / 12.4 / 14.3 / 14.9: 512 is within 7 % of each model's best (docs/measurements.md).
DEFAULT_CHUNK_SIZE = 512


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
    """k draws z_i ~ q(z|x) for each of B images: the draws (k, B, *event), their log importance weights and
    likelihoods, (k, B) each."""

    z: torch.Tensor
    log_weights: torch.Tensor  # log w_i = log p(x|z_i) + log p(z_i) - log q(z_i|x)
    log_likelihood: torch.Tensor  # log p(x|z_i)


def weigh(model: HasLikelihood, posterior: Distribution, z: torch.Tensor, log_px_z: torch.Tensor) -> ImportanceWeights:
    """The importance weights of draws ``z`` (k, B, *event) of ``posterior`` with their log p(x|z), (k, B)."""
    return ImportanceWeights(z, log_px_z + model.prior().log_prob(z) - posterior.log_prob(z), log_px_z)


def importance_weights(
    x: torch.Tensor,
    model: HasLikelihood,
    k: int,
    posterior: Distribution | None = None,
    generator: torch.Generator | None = None,
    labels: torch.Tensor | None = None,
) -> ImportanceWeights:
    """Draw k reparameterized samples from q(z|x) (default ``model.posterior(x)``; a conditional model's given
    ``labels`` (B,)) per image and weigh them, all k * B decoded in one batch (differentiable: the training loss)."""
    posterior = model.posterior(x, *given(labels)) if posterior is None else posterior
    z = draw(posterior, (k,), generator)  # (k, B, *event)
    batch = len(x)
    repeated = x.unsqueeze(0).expand(k, *x.shape).reshape(k * batch, *x.shape[1:])
    repeated_labels = given(None if labels is None else labels.repeat(k))  # (k * B,) in the order of ``repeated``
    log_px_z = model.log_likelihood(repeated, z.reshape(k * batch, *z.shape[2:]), *repeated_labels).view(k, batch)
    return weigh(model, posterior, z, log_px_z)


def iwae_bound(log_weights: torch.Tensor) -> torch.Tensor:
    """L_k = log (1/k) sum_i w_i of each image, from its k log importance weights: (k, B) -> (B,)."""
    return torch.logsumexp(log_weights, dim=0) - math.log(len(log_weights))


def image_log_likelihood(
    model: HasLikelihood, x: torch.Tensor, z: torch.Tensor, chunk_size: int, labels: torch.Tensor | None = None
) -> torch.Tensor:
    """log p(x|z_i) of one image ``x`` (1, *image) for each of its draws ``z`` (k, *event), decoding ``chunk_size``
    draws at a time: (k,). The image and its label (1,) are repeated as stride-0 views, not copies."""
    return torch.cat(
        [
            model.log_likelihood(
                x.expand(len(chunk), *x.shape[1:]), chunk, *given(None if labels is None else labels.expand(len(chunk)))
            )
            for chunk in z.split(chunk_size)
        ]
    )


@torch.no_grad()
def iwae_log_likelihood(
    x: torch.Tensor,
    model: HasLikelihood,
    k: int,
    chunk_size: int | None = None,
    generator: torch.Generator | None = None,
    labels: torch.Tensor | None = None,
) -> torch.Tensor:
    """L_k of each image of a batch (a conditional model's given ``labels``), (B,) float64: all k * B draws at
    once (the same draws whatever ``chunk_size``), decoded ``chunk_size`` samples of one image at a time; float32
    weights, their log-sum-exp in float64."""
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    posterior = model.posterior(x, *given(labels))
    z = draw(posterior, (k,), generator)  # (k, B, *event)
    per_image = z.movedim(1, 0).contiguous()  # (B, k, *event): each image's draws side by side
    chunk_size = chunk_size or DEFAULT_CHUNK_SIZE
    log_px_z = torch.stack(
        [
            image_log_likelihood(
                model, x[i : i + 1], per_image[i], chunk_size, None if labels is None else labels[i : i + 1]
            )
            for i in range(len(x))
        ],
        dim=1,
    )  # (k, B)
    return iwae_bound(weigh(model, posterior, z, log_px_z).log_weights.to(torch.float64))


class ElboTerms(NamedTuple):
    """The two terms of the ELBO of each of B images, (B,) float64 each."""

    log_likelihood: torch.Tensor  # log p(x|z), averaged over the posterior draws
    kl: torch.Tensor  # KL(q(z|x) || p(z)): analytic where torch.distributions has it, else estimated from the draws

    @property
    def elbo(self) -> torch.Tensor:
        return self.log_likelihood - self.kl


def elbo_of_draws(
    posterior: Distribution, prior: Distribution, z: torch.Tensor, log_likelihood: torch.Tensor
) -> ElboTerms:
    """The ELBO's terms from n draws ``z`` (n, B, *event) of ``posterior`` and their log p(x|z), (n, B)."""
    try:
        kl = kl_divergence(posterior, prior)
    except NotImplementedError:  # the mean of log q(z|x) - log p(z) over the draws
        kl = (posterior.log_prob(z) - prior.log_prob(z)).to(torch.float64).mean(dim=0)
    return ElboTerms(log_likelihood.to(torch.float64).mean(dim=0), kl.to(torch.float64))


def elbo_terms(
    x: torch.Tensor,
    model: HasLikelihood,
    num_samples: int = 1,
    posterior: Distribution | None = None,
    generator: torch.Generator | None = None,
    labels: torch.Tensor | None = None,
) -> ElboTerms:
    """The ELBO's terms for a batch, from ``num_samples`` reparameterized draws z ~ q(z|x) per image (default
    posterior ``model.posterior(x)``; a conditional model's given ``labels`` (B,): the ELBO of log p(x|y)):
    differentiable, so the training loss is the same number."""
    if num_samples < 1:
        raise ValueError(f"num_samples must be >= 1, got {num_samples}")
    posterior = model.posterior(x, *given(labels)) if posterior is None else posterior
    z = torch.stack([draw(posterior, (), generator) for _ in range(num_samples)])  # (n, B, *event), one batch a draw
    log_likelihood = torch.stack([model.log_likelihood(x, z_i, *given(labels)) for z_i in z])  # (n, B)
    return elbo_of_draws(posterior, model.prior(), z, log_likelihood)


@torch.no_grad()
def elbo(
    x: torch.Tensor,
    model: HasLikelihood,
    num_samples: int = 1,
    generator: torch.Generator | None = None,
    labels: torch.Tensor | None = None,
) -> torch.Tensor:
    """The ELBO per image, (B,) float64, over ``num_samples`` posterior draws (``elbo_terms``)."""
    return elbo_terms(x, model, num_samples, generator=generator, labels=labels).elbo


def dataset_negative_elbo(
    images: torch.Tensor,
    model: HasLikelihood,
    num_samples: int = 1,
    batch_size: int = 500,
    generator: torch.Generator | None = None,
    progress: bool = False,
    labels: torch.Tensor | None = None,
) -> torch.Tensor:
    """-ELBO of every image of a (N, ...) tensor (a conditional model's given ``labels`` (N,)), in nats, (N,)
    float64 on the CPU."""
    return _per_image(
        images, labels, batch_size, "-ELBO", progress, lambda x, y: -elbo(x, model, num_samples, generator, y)
    )


def dataset_iwae_nll(
    images: torch.Tensor,
    model: HasLikelihood,
    k: int = 5000,
    batch_size: int = 20,
    chunk_size: int | None = None,
    generator: torch.Generator | None = None,
    progress: bool = False,
    labels: torch.Tensor | None = None,
) -> torch.Tensor:
    """-L_k (the IWAE estimate of -log p(x), a conditional model's of -log p(x|y) given ``labels`` (N,)) of every
    image of a (N, ...) tensor, in nats, (N,) float64."""
    return _per_image(
        images, labels, batch_size, f"IWAE k={k}", progress,
        lambda x, y: -iwae_log_likelihood(x, model, k, chunk_size, generator, y),
    )  # fmt: skip


def _per_image(
    images: torch.Tensor,
    labels: torch.Tensor | None,
    batch_size: int,
    description: str,
    progress: bool,
    bound: Callable[[torch.Tensor, torch.Tensor | None], torch.Tensor],
) -> torch.Tensor:
    """``bound`` applied to the images (and their labels, if any) in batches, with a progress bar: (N,) on the
    CPU."""
    values = []
    bar = tqdm(total=len(images), desc=description, unit="img", disable=not progress, leave=False)
    for start in range(0, len(images), batch_size):
        x = images[start : start + batch_size]
        values.append(bound(x, None if labels is None else labels[start : start + batch_size]).cpu())
        bar.update(len(x))
    bar.close()
    return torch.cat(values)


def mean_and_standard_error(values: torch.Tensor) -> tuple[float, float]:
    """Mean of per-image values and its standard error (std / sqrt(N))."""
    values = values.to(torch.float64)
    if len(values) < 2:
        return values.mean().item(), math.nan
    return values.mean().item(), (values.std() / math.sqrt(len(values))).item()

"""The likelihood step of an evaluation: test -ELBO and IWAE -log p(x), in nats per image (and in bits per dimension
under a likelihood of 8-bit images)."""

from __future__ import annotations

from typing import Any

import torch

from genmodels.contract import GeneratesConditionally, HasLikelihood
from genmodels.evaluation import StepResult, timed
from genmodels.metrics.likelihood import dataset_iwae_nll, dataset_negative_elbo, mean_and_standard_error
from genmodels.models.pixel_likelihoods import bits_per_dimension


def evaluate_likelihood(
    model: HasLikelihood, datamodule: Any, settings: Any, seed: int, device: torch.device, progress: bool = True
) -> StepResult:
    """Test -ELBO and IWAE -log p(x) (a conditional model's -log p(x|y), given the test labels) on the targets the run
    trained on (``settings``: the ``metrics`` config)."""
    test_images = datamodule.splits["test"].images
    limit = settings.num_test_images
    count = len(test_images) if limit is None else min(int(limit), len(test_images))
    torch.manual_seed(seed)  # a dynamic binarization is drawn here, once, for both bounds
    x = datamodule.transform(test_images[:count].to(device))
    conditional = isinstance(model, GeneratesConditionally)
    labels = datamodule.splits["test"].labels[:count].to(device) if conditional else None
    seconds: dict[str, float] = {}
    model.to(memory_format=torch.channels_last)  # oneDNN's fast layout for convolutions (none in an MLP: no change)

    with timed(seconds, "neg_elbo"):
        generator = torch.Generator(device=device).manual_seed(seed)
        neg_elbo = dataset_negative_elbo(
            x, model, settings.elbo_samples, generator=generator, progress=progress, labels=labels
        )
    with timed(seconds, "iwae"):
        generator = torch.Generator(device=device).manual_seed(seed + 1)
        iwae_nll = dataset_iwae_nll(
            x, model, k=int(settings.iwae_k), batch_size=int(settings.iwae_batch_size),
            chunk_size=settings.iwae_chunk_size, generator=generator, progress=progress, labels=labels,
        )  # fmt: skip

    metrics: dict[str, float] = {}
    metrics["test_neg_elbo"], metrics["test_neg_elbo_sem"] = mean_and_standard_error(neg_elbo)
    metrics["test_iwae_nll"], metrics["test_iwae_nll_sem"] = mean_and_standard_error(iwae_nll)
    metrics["iwae_gap"] = metrics["test_neg_elbo"] - metrics["test_iwae_nll"]
    pixel_likelihood = getattr(model, "pixel_likelihood", None)  # a VAE's p(x|z) (models/pixel_likelihoods.py)
    if pixel_likelihood is not None and pixel_likelihood.discrete:
        for key in ("test_neg_elbo", "test_iwae_nll"):
            metrics[f"{key}_bpd"] = bits_per_dimension(metrics[key], x[0].numel())
    details = {
        "num_test_images": count,
        "likelihood": "log p(x|y), given each test image's label" if conditional else "log p(x)",
        "pixel_likelihood": pixel_likelihood.description if pixel_likelihood else f"{type(model).__name__}'s own",
        "iwae_k": int(settings.iwae_k),
        "elbo_samples": int(settings.elbo_samples),
        "elbo_kl": "KL(q(z|x) || p(z)), analytic where torch.distributions has it, else estimated from the "
        "draws; reconstruction averaged over elbo_samples posterior draws",
        "iwae_images_per_second": round(count / max(seconds["iwae"], 1e-9), 2),
        "fraction_iwae_below_elbo": (iwae_nll <= neg_elbo).to(torch.float64).mean().item(),
        "targets": datamodule.binarization_note
        + (f"; drawn once with seed {seed} for evaluation" if datamodule.binarize == "dynamic" else ""),
    }
    return StepResult(metrics, details, seconds=seconds)

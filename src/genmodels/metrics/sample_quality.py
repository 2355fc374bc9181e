"""Sample-quality metrics on classifier outputs: Inception Score, class coverage, precision/recall (k-NN manifolds)."""

from __future__ import annotations

import math

import torch


def inception_score(probabilities: torch.Tensor, splits: int = 1, eps: float = 1e-12) -> tuple[float, float]:
    """Mean and standard deviation over ``splits`` parts of exp(E KL(p(y|x) || p(y))) of (N, C) probabilities."""
    p = _check_probabilities(probabilities)
    if not 1 <= splits <= len(p):
        raise ValueError(f"splits must be between 1 and the number of samples ({len(p)}), got {splits}")
    scores = []
    for part in torch.tensor_split(p, splits):
        marginal = part.mean(dim=0, keepdim=True)
        kl = (part * ((part + eps).log() - (marginal + eps).log())).sum(dim=1)
        scores.append(kl.mean().exp())
    values = torch.stack(scores)
    std = values.std(unbiased=False).item() if splits > 1 else 0.0
    return values.mean().item(), std


def conditional_accuracy(probabilities: torch.Tensor, labels: torch.Tensor) -> float:
    """The share of samples whose most probable class (of (N, C) classifier probabilities) is the class they were
    drawn for, labels (N,)."""
    p = _check_probabilities(probabilities)
    return (p.argmax(dim=1) == labels.to(p.device)).to(torch.float64).mean().item()


def class_coverage(probabilities: torch.Tensor) -> dict[str, float | list[float]]:
    """The histogram of most-probable classes, its entropy (nats), entropy / log C and exp(entropy)."""
    p = _check_probabilities(probabilities)
    num_classes = p.shape[1]
    counts = torch.bincount(p.argmax(dim=1), minlength=num_classes).to(torch.float64)
    histogram = counts / counts.sum()
    nonzero = histogram[histogram > 0]
    entropy = -(nonzero * nonzero.log()).sum().item() + 0.0  # + 0.0 turns -0.0 into 0.0
    return {
        "histogram": histogram.tolist(),
        "entropy": entropy,
        "normalized_entropy": entropy / math.log(num_classes) if num_classes > 1 else 1.0,
        "effective_classes": math.exp(entropy),
    }


def knn_radii(features: torch.Tensor, k: int = 3, chunk_size: int = 1024) -> torch.Tensor:
    """Distance from each point to its k-th nearest neighbour in the same set (itself excluded), (N,)."""
    x = features.detach().to(torch.float32)
    if not 1 <= k < len(x):
        raise ValueError(f"k must be between 1 and N - 1 = {len(x) - 1}, got {k}")
    radii = []
    for start in range(0, len(x), chunk_size):
        distances = torch.cdist(x[start : start + chunk_size], x)
        # the k+1 smallest include the point itself at distance 0
        radii.append(distances.topk(k + 1, dim=1, largest=False).values[:, k])
    return torch.cat(radii)


def fraction_in_manifold(
    manifold: torch.Tensor, radii: torch.Tensor, queries: torch.Tensor, chunk_size: int = 1024
) -> float:
    """Fraction of ``queries`` within ``radii[i]`` of some ``manifold[i]``."""
    reference = manifold.detach().to(torch.float32)
    inside = []
    for start in range(0, len(queries), chunk_size):
        distances = torch.cdist(queries[start : start + chunk_size].detach().to(torch.float32), reference)
        inside.append((distances <= radii.unsqueeze(0)).any(dim=1))
    return torch.cat(inside).to(torch.float64).mean().item()


def precision_recall(
    real_features: torch.Tensor, fake_features: torch.Tensor, k: int = 3, chunk_size: int = 1024
) -> tuple[float, float]:
    """Improved precision and recall (Kynkäänniemi et al. 2019) of generated against real features."""
    real_radii = knn_radii(real_features, k, chunk_size)
    fake_radii = knn_radii(fake_features, k, chunk_size)
    precision = fraction_in_manifold(real_features, real_radii, fake_features, chunk_size)
    recall = fraction_in_manifold(fake_features, fake_radii, real_features, chunk_size)
    return precision, recall


def _check_probabilities(probabilities: torch.Tensor) -> torch.Tensor:
    p = probabilities.detach().to(torch.float64)
    if p.dim() != 2 or len(p) == 0:
        raise ValueError(f"expected (N, C) class probabilities, got shape {tuple(probabilities.shape)}")
    if (p < 0).any() or not torch.allclose(p.sum(dim=1), torch.ones(len(p), dtype=p.dtype), atol=1e-4):
        raise ValueError("class probabilities must be non-negative and sum to 1 per row (softmax outputs)")
    return p

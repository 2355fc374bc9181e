"""The Fréchet distance between the Gaussians fitted to two feature sets (the "F" of FID).

tr((S_1 S_2)^{1/2}) is computed in float64 from the symmetric PSD form (S_1^{1/2} S_2 S_1^{1/2})^{1/2}.
"""

from __future__ import annotations

import torch


def gaussian_statistics(features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean (D,) and unbiased covariance (D, D), in float64, of (N, D) features (N >= 2)."""
    if features.dim() != 2 or len(features) < 2:
        raise ValueError(f"expected (N, D) features with N >= 2, got shape {tuple(features.shape)}")
    x = features.detach().to(torch.float64)
    mean = x.mean(dim=0)
    centred = x - mean
    return mean, centred.T @ centred / (len(x) - 1)


def sqrtm_psd(matrix: torch.Tensor) -> torch.Tensor:
    """Square root of a symmetric positive semi-definite matrix (negative eigenvalues clipped to 0)."""
    symmetric = 0.5 * (matrix + matrix.T)
    eigenvalues, eigenvectors = torch.linalg.eigh(symmetric)
    return (eigenvectors * eigenvalues.clamp(min=0).sqrt()) @ eigenvectors.T


def frechet_distance_from_statistics(
    mean_1: torch.Tensor, cov_1: torch.Tensor, mean_2: torch.Tensor, cov_2: torch.Tensor
) -> float:
    """Squared Fréchet (2-Wasserstein) distance between N(mean_1, cov_1) and N(mean_2, cov_2)."""
    mean_1, cov_1, mean_2, cov_2 = (t.to(torch.float64) for t in (mean_1, cov_1, mean_2, cov_2))
    root_1 = sqrtm_psd(cov_1)
    middle = root_1 @ cov_2 @ root_1
    trace_root = torch.linalg.eigvalsh(0.5 * (middle + middle.T)).clamp(min=0).sqrt().sum()
    distance = (mean_1 - mean_2).square().sum() + cov_1.trace() + cov_2.trace() - 2.0 * trace_root
    return max(distance.item(), 0.0)


def frechet_distance(features_1: torch.Tensor, features_2: torch.Tensor) -> float:
    """Fréchet distance between the Gaussians fitted to two (N, D) feature sets."""
    return frechet_distance_from_statistics(*gaussian_statistics(features_1), *gaussian_statistics(features_2))


def class_frechet_distances(
    features_1: torch.Tensor, labels_1: torch.Tensor, features_2: torch.Tensor, labels_2: torch.Tensor
) -> dict[str, float]:
    """The Fréchet distance between the features of each class (by its index, as a string) in two labelled sets,
    (N, D) features and (N,) labels each; for the classes both sets hold at least two of."""
    classes = sorted(set(labels_1.tolist()) & set(labels_2.tolist()))
    return {
        str(k): frechet_distance(features_1[labels_1 == k], features_2[labels_2 == k])
        for k in classes
        if (labels_1 == k).sum() >= 2 and (labels_2 == k).sum() >= 2
    }

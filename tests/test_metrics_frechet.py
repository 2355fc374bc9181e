"""Fréchet distance against closed forms and against scipy's matrix square root."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg
import torch

from genmodels.metrics.frechet import frechet_distance, frechet_distance_from_statistics, gaussian_statistics, sqrtm_psd


def scipy_frechet(mu1, cov1, mu2, cov2) -> float:
    """The textbook formula with scipy's general matrix square root of cov1 @ cov2."""
    root = scipy.linalg.sqrtm(cov1 @ cov2)
    root = root.real if np.iscomplexobj(root) else root
    return float(((mu1 - mu2) ** 2).sum() + np.trace(cov1) + np.trace(cov2) - 2 * np.trace(root))


def test_diagonal_gaussians_match_closed_form():
    # For diagonal covariances, d^2 = |mu1 - mu2|^2 + sum (sqrt(v1) - sqrt(v2))^2.
    mu1, mu2 = torch.tensor([0.0, 1.0, -2.0]), torch.tensor([3.0, 1.0, 0.0])
    var1, var2 = torch.tensor([1.0, 4.0, 0.25]), torch.tensor([9.0, 1.0, 0.25])
    expected = (mu1 - mu2).square().sum() + (var1.sqrt() - var2.sqrt()).square().sum()
    got = frechet_distance_from_statistics(mu1, torch.diag(var1), mu2, torch.diag(var2))
    assert got == pytest.approx(expected.item(), rel=1e-10)  # 13 + (4 + 1 + 0) = 18
    assert got == pytest.approx(18.0)


def test_identical_statistics_give_zero_and_distance_is_symmetric():
    generator = torch.Generator().manual_seed(0)
    a = torch.randn(200, 5, generator=generator)
    b = torch.randn(300, 5, generator=generator) * 2 + 1
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-9)
    assert frechet_distance(a, b) == pytest.approx(frechet_distance(b, a), rel=1e-9)
    assert frechet_distance(a, b) > 1.0


def test_random_features_match_scipy_sqrtm():
    rng = np.random.default_rng(1)
    for dim in (2, 8, 20):
        x = rng.normal(size=(500, dim)) @ rng.normal(size=(dim, dim))
        y = rng.normal(size=(400, dim)) @ rng.normal(size=(dim, dim)) + rng.normal(size=dim)
        mu1, cov1 = x.mean(0), np.cov(x, rowvar=False)
        mu2, cov2 = y.mean(0), np.cov(y, rowvar=False)
        expected = scipy_frechet(mu1, cov1, mu2, cov2)
        got = frechet_distance(torch.from_numpy(x).float(), torch.from_numpy(y).float())
        assert got == pytest.approx(expected, rel=1e-4, abs=1e-6)


def test_statistics_are_float64_mean_and_unbiased_covariance():
    x = torch.tensor([[1.0, 2.0], [3.0, 6.0], [5.0, 4.0]])
    mean, cov = gaussian_statistics(x)
    assert mean.dtype == torch.float64 and cov.dtype == torch.float64
    np.testing.assert_allclose(mean.numpy(), [3.0, 4.0])
    np.testing.assert_allclose(cov.numpy(), np.cov(x.numpy(), rowvar=False))
    with pytest.raises(ValueError, match="N >= 2"):
        gaussian_statistics(torch.zeros(1, 3))


def test_sqrtm_psd_squares_back():
    rng = np.random.default_rng(2)
    a = rng.normal(size=(6, 6))
    spd = torch.from_numpy(a @ a.T)
    root = sqrtm_psd(spd)
    torch.testing.assert_close(root @ root, spd)
    np.testing.assert_allclose(root.numpy(), scipy.linalg.sqrtm(spd.numpy()).real, atol=1e-8)

"""Inception Score, class coverage and precision/recall on constructed inputs with known answers."""

from __future__ import annotations

import math

import pytest
import torch

from genmodels.metrics.sample_quality import (
    class_coverage,
    fraction_in_manifold,
    inception_score,
    knn_radii,
    precision_recall,
)


def one_hot_balanced(per_class: int, num_classes: int = 10) -> torch.Tensor:
    labels = torch.arange(num_classes).repeat(per_class)
    return torch.nn.functional.one_hot(labels, num_classes).double()


def single_class(count: int, label: int) -> torch.Tensor:
    return torch.nn.functional.one_hot(torch.full((count,), label), 10).double()


@pytest.mark.parametrize(
    "probabilities, splits, expected",
    [
        (torch.full((100, 10), 0.1), 1, 1.0),  # uniform predictions
        (one_hot_balanced(20), 1, 10.0),  # confident and balanced: the number of classes
        (one_hot_balanced(20), 5, 10.0),  # each split still balanced
        (single_class(50, 3), 1, 1.0),
    ],
)
def test_inception_score_closed_forms(probabilities, splits, expected):
    score, std = inception_score(probabilities, splits=splits)
    assert score == pytest.approx(expected, rel=1e-6) and std == pytest.approx(0.0, abs=1e-6)


def test_inception_score_rejects_non_probabilities():
    with pytest.raises(ValueError, match="sum to 1"):
        inception_score(torch.ones(4, 10))


def test_class_coverage_uniform_two_classes_and_collapsed():
    balanced = class_coverage(one_hot_balanced(10))
    assert balanced["entropy"] == pytest.approx(math.log(10)) and balanced["normalized_entropy"] == pytest.approx(1.0)
    assert balanced["effective_classes"] == pytest.approx(10.0) and balanced["histogram"] == pytest.approx([0.1] * 10)
    collapsed = class_coverage(single_class(30, 7))
    assert collapsed["entropy"] == 0.0 and collapsed["effective_classes"] == pytest.approx(1.0)
    assert collapsed["histogram"][7] == 1.0
    two = class_coverage(torch.cat([single_class(20, 0), single_class(20, 1)]))
    assert two["entropy"] == pytest.approx(math.log(2))


def sets(seed: int, shift: float = 0.0, fake_scale: float = 1.0, n: int = 1000, dim: int = 8):
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(n, dim, generator=generator), fake_scale * torch.randn(n, dim, generator=generator) + shift


@pytest.mark.parametrize(
    "real, fake, low, high",
    [
        (*[torch.randn(300, 16, generator=torch.Generator().manual_seed(0))] * 2, (1.0, 1.0), (1.0, 1.0)),  # identical
        (*sets(1), (0.8, 0.8), (1.0, 1.0)),  # the same distribution
        (*sets(2, shift=100.0, n=300, dim=16), (0.0, 0.0), (0.0, 0.0)),  # far apart
        (*sets(3, fake_scale=0.05, dim=2), (0.9, 0.0), (1.0, 0.2)),  # collapsed: precise but not diverse
    ],
    ids=["identical", "same distribution", "far apart", "collapsed"],
)
def test_precision_recall_separate_fidelity_from_diversity(real, fake, low, high):
    precision, recall = precision_recall(real, fake, k=3)
    assert low[0] <= precision <= high[0] and low[1] <= recall <= high[1], (precision, recall)


def test_knn_radii_excludes_the_point_itself():
    points = torch.tensor([[0.0], [1.0], [3.0], [7.0]])
    torch.testing.assert_close(knn_radii(points, k=1), torch.tensor([1.0, 1.0, 2.0, 4.0]))
    torch.testing.assert_close(knn_radii(points, k=2, chunk_size=3), torch.tensor([3.0, 2.0, 3.0, 6.0]))
    assert fraction_in_manifold(points, knn_radii(points, k=1), torch.tensor([[0.5], [12.0]])) == 0.5

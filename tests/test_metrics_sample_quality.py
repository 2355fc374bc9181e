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


def test_inception_score_of_uniform_predictions_is_one():
    score, std = inception_score(torch.full((100, 10), 0.1))
    assert score == pytest.approx(1.0, abs=1e-9)
    assert std == 0.0


def test_inception_score_of_confident_balanced_predictions_is_number_of_classes():
    score, _ = inception_score(one_hot_balanced(20))
    assert score == pytest.approx(10.0, rel=1e-6)
    score, std = inception_score(one_hot_balanced(20), splits=5)  # each split still balanced
    assert score == pytest.approx(10.0, rel=1e-6) and std == pytest.approx(0.0, abs=1e-6)


def test_inception_score_of_single_class_predictions_is_one():
    probabilities = torch.zeros(50, 10)
    probabilities[:, 3] = 1.0
    assert inception_score(probabilities)[0] == pytest.approx(1.0, abs=1e-6)


def test_inception_score_rejects_non_probabilities():
    with pytest.raises(ValueError, match="sum to 1"):
        inception_score(torch.ones(4, 10))


def test_class_coverage_uniform_and_collapsed():
    balanced = class_coverage(one_hot_balanced(10))
    assert balanced["entropy"] == pytest.approx(math.log(10))
    assert balanced["normalized_entropy"] == pytest.approx(1.0)
    assert balanced["effective_classes"] == pytest.approx(10.0)
    assert balanced["histogram"] == pytest.approx([0.1] * 10)
    collapsed_probabilities = torch.zeros(30, 10)
    collapsed_probabilities[:, 7] = 1.0
    collapsed = class_coverage(collapsed_probabilities)
    assert collapsed["entropy"] == 0.0 and collapsed["effective_classes"] == pytest.approx(1.0)
    assert collapsed["histogram"][7] == 1.0


def test_class_coverage_two_classes():
    probabilities = torch.zeros(40, 10)
    probabilities[:20, 0] = 1.0
    probabilities[20:, 1] = 1.0
    assert class_coverage(probabilities)["entropy"] == pytest.approx(math.log(2))


def test_precision_recall_identical_sets_are_one():
    features = torch.randn(300, 16, generator=torch.Generator().manual_seed(0))
    precision, recall = precision_recall(features, features.clone(), k=3)
    assert precision == pytest.approx(1.0) and recall == pytest.approx(1.0)


def test_precision_recall_same_distribution_is_high():
    generator = torch.Generator().manual_seed(1)
    real, fake = torch.randn(1000, 8, generator=generator), torch.randn(1000, 8, generator=generator)
    precision, recall = precision_recall(real, fake, k=3)
    assert precision > 0.8 and recall > 0.8


def test_precision_recall_far_apart_sets_are_zero():
    generator = torch.Generator().manual_seed(2)
    real = torch.randn(300, 16, generator=generator)
    fake = torch.randn(300, 16, generator=generator) + 100.0
    assert precision_recall(real, fake, k=3) == (0.0, 0.0)


def test_precision_recall_separate_fidelity_from_diversity():
    # Fakes collapsed onto a small part of the real data: precise but not diverse.
    generator = torch.Generator().manual_seed(3)
    real = torch.randn(1000, 2, generator=generator)
    fake = 0.05 * torch.randn(1000, 2, generator=generator)
    precision, recall = precision_recall(real, fake, k=3)
    assert precision > 0.9 and recall < 0.2


def test_knn_radii_excludes_the_point_itself():
    points = torch.tensor([[0.0], [1.0], [3.0], [7.0]])
    torch.testing.assert_close(knn_radii(points, k=1), torch.tensor([1.0, 1.0, 2.0, 4.0]))
    torch.testing.assert_close(knn_radii(points, k=2, chunk_size=3), torch.tensor([3.0, 2.0, 3.0, 6.0]))
    assert fraction_in_manifold(points, knn_radii(points, k=1), torch.tensor([[0.5], [12.0]])) == 0.5

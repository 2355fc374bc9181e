"""EpochMeans: batch-size-weighted epoch means, reset after each read."""

from __future__ import annotations

import torch

from genmodels.models.epoch_means import EpochMeans


def test_weighted_means_match_a_direct_computation() -> None:
    generator = torch.Generator().manual_seed(0)
    means = EpochMeans(["a", "b"])
    values = torch.randn(7, 2, generator=generator)
    weights = torch.randint(1, 129, (7,), generator=generator)
    for row, weight in zip(values, weights.tolist()):
        means.update({"a": row[0], "b": row[1]}, weight)
    expected = (values * weights[:, None]).sum(0) / weights.sum()
    result = means.compute_and_reset()
    assert set(result) == {"a", "b"}
    torch.testing.assert_close(torch.stack([result["a"], result["b"]]), expected)


def test_reset_after_read_empty_epoch_gives_nothing_and_nan_stays() -> None:
    means = EpochMeans(["loss"])
    means.update({"loss": torch.tensor(3.0)}, 4)
    assert means.compute_and_reset()["loss"].item() == 3.0
    assert means.compute_and_reset() == {}
    means.update({"loss": torch.tensor(-1.0)}, 2)
    assert means.compute_and_reset()["loss"].item() == -1.0
    means.update({"loss": torch.tensor(1.0)}, 1)
    means.update({"loss": torch.tensor(float("nan"))}, 1)
    assert torch.isnan(means.compute_and_reset()["loss"])  # non-finite values stay visible

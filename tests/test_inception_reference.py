"""The cache of the real images' Inception statistics: round trip, its key, corrupt or foreign files, and the
Inception FID of ``genmodels.evaluate`` with it (on a stand-in network)."""

from __future__ import annotations

import json
import logging
import shutil

import pytest
import torch

from genmodels.errors import DataError
from genmodels.evaluate import evaluate
from genmodels.evaluation.inception_reference import ReferenceKey, cached_statistics, load_statistics
from genmodels.metrics.frechet import gaussian_statistics
from tests.helpers import QUICK_EVAL_CLASSIFIER, compose_evaluate
from tests.tiny_inception import save_tiny_inception

KEY = ReferenceKey("mnist", "test", 6, "first", "grey levels at 28x28; bilinear to 299", "sha1 abc, float32")


class CountingFeatures:
    """Stands in for running the network: fixed (6, 3) features, and how often they were asked for."""

    def __init__(self, seed: int = 0) -> None:
        self.features = torch.randn(6, 3, generator=torch.Generator().manual_seed(seed))
        self.calls = 0

    def __call__(self) -> torch.Tensor:
        self.calls += 1
        return self.features


def test_statistics_are_computed_once_then_read_back(tmp_path):
    features = CountingFeatures()
    (mean, covariance), cached = cached_statistics(tmp_path, KEY, features)
    expected_mean, expected_covariance = gaussian_statistics(features.features)
    assert not cached and features.calls == 1
    torch.testing.assert_close(mean, expected_mean)
    torch.testing.assert_close(covariance, expected_covariance)
    path, sidecar = KEY.paths(tmp_path)
    assert path.parent == tmp_path / "inception" and path.name.startswith("mnist_test_6_")
    assert json.loads(sidecar.read_text())["key"]["split"] == "test"

    (mean_again, covariance_again), cached = cached_statistics(tmp_path, KEY, features)
    assert cached and features.calls == 1  # the network was not run again
    assert torch.equal(mean_again, mean) and torch.equal(covariance_again, covariance)


@pytest.mark.parametrize(
    "change", [{"count": 7}, {"split": "train"}, {"preprocessing": "64x64"}, {"network": "sha1 def, float32"}]
)
def test_any_change_of_the_key_gets_a_cache_file_of_its_own(tmp_path, change):
    cached_statistics(tmp_path, KEY, CountingFeatures())
    other = ReferenceKey(**{**KEY.__dict__, **change})
    assert other.paths(tmp_path)[0] != KEY.paths(tmp_path)[0]
    statistics, why = load_statistics(tmp_path, other)
    assert statistics is None and why.startswith("no cached statistics")


def test_a_corrupt_or_foreign_cache_is_recomputed_never_used(tmp_path, caplog):
    features = CountingFeatures()
    (mean, _), _ = cached_statistics(tmp_path, KEY, features)
    path, sidecar = KEY.paths(tmp_path)

    data = bytearray(path.read_bytes())
    data[-100] ^= 0xFF  # one flipped byte
    path.write_bytes(bytes(data))
    statistics, why = load_statistics(tmp_path, KEY)
    assert statistics is None and why.startswith(f"checksum mismatch for {path}")
    with caplog.at_level(logging.WARNING):
        (recomputed, _), cached = cached_statistics(tmp_path, KEY, features)
    assert not cached and features.calls == 2 and torch.equal(recomputed, mean)
    assert "Recomputing the Inception statistics of mnist test images: checksum mismatch" in caplog.text

    info = json.loads(sidecar.read_text())
    sidecar.write_text(json.dumps({**info, "key": {**info["key"], "count": 5}}))  # a sidecar of other statistics
    assert "describes" in load_statistics(tmp_path, KEY)[1]
    sidecar.write_text("{not json")
    assert load_statistics(tmp_path, KEY)[1].startswith(f"unreadable sidecar {sidecar}")
    cached_statistics(tmp_path, KEY, features)
    assert features.calls == 3 and load_statistics(tmp_path, KEY)[0] is not None


def test_wrong_feature_counts_and_an_unwritable_folder_are_refused(tmp_path):
    with pytest.raises(ValueError, match="expected features of 6 images"):
        cached_statistics(tmp_path, KEY, lambda: torch.zeros(5, 3))
    blocked = tmp_path / "file"
    blocked.write_text("")
    with pytest.raises(DataError, match="cannot write into .*inception.* to cache the Inception statistics"):
        cached_statistics(blocked, KEY, CountingFeatures())


def test_evaluate_caches_the_real_statistics_and_then_runs_only_the_samples(cli_vae_run, mnist_dir, tmp_path):
    data = tmp_path / "data"  # the real MNIST and classifier, the statistics cache of this test's own
    data.mkdir()
    for name in ("mnist", "classifiers"):
        (data / name).symlink_to((mnist_dir / name).resolve())
    weights = save_tiny_inception(tmp_path / "tiny.pt")
    settings = ["metrics.likelihood=false", "metrics.num_samples=300", "metrics.inception_fid=true"]
    settings += ["metrics.inception_samples=40", "metrics.inception_batch_size=16", "metrics.inception_compile=false"]
    settings += [f"metrics.inception_weights={weights}", "progress=false", *QUICK_EVAL_CLASSIFIER]
    run = tmp_path / "run"
    shutil.copytree(cli_vae_run, run)
    reports = [evaluate(compose_evaluate([f"run_dir={run}", f"data_dir={data}", *settings])) for _ in range(2)]

    first, second = (report["details"]["sample_quality"] for report in reports)
    assert first["inception_fid_images"] == 40 and "folded" in first["inception_fid"]["method"]
    assert not first["inception_fid"]["reference_statistics_cached"]
    assert second["inception_fid"]["reference_statistics_cached"]
    assert sorted(path.name.split("_")[1] for path in (data / "inception").glob("*.pt")) == ["test", "train"]
    # the same numbers from the cache; an untrained VAE's samples far above the real-vs-real floor
    assert reports[1]["metrics"]["inception_fid"] == pytest.approx(reports[0]["metrics"]["inception_fid"])
    assert reports[1]["floors"]["inception_fid"] == pytest.approx(reports[0]["floors"]["inception_fid"])
    assert reports[0]["floors"]["inception_fid"] < reports[0]["metrics"]["inception_fid"]

"""data=cifar10 on a generated archive of the official format (data_batch_1..5 and test_batch pickles with the
official keys, three images each), registered with its own md5 in place of the official one."""

import json
import math
import os
import pickle
from pathlib import Path

import pytest
import torch

from genmodels.data import __main__ as data_cli
from genmodels.data.cifar10 import CIFAR10DataModule, read_archive
from genmodels.data.provision import ensure_dataset
from genmodels.errors import DataError
from tests.helpers import (
    CIFAR10_ARCHIVE,
    CIFAR10_PER_BATCH,
    QUICK_CLASSIFIER,
    QUICK_EVAL_CLASSIFIER,
    cifar10_batch,
    place_cifar10_archive,
    run_main,
    write_cifar10_archive,
)


@pytest.fixture
def placed_by_hand(tmp_path, monkeypatch) -> Path:
    """A folder holding a generated archive, registered as cifar10 with the archive's own md5."""
    return place_cifar10_archive(tmp_path / "downloads", monkeypatch)


def test_placed_archive_is_checked_and_read(placed_by_hand, tmp_path, capsys):
    data_dir = tmp_path / "data"
    assert data_cli.main(["--dataset", "cifar10", "--from", str(placed_by_hand), "--data-dir", str(data_dir)]) == 0
    assert "cifar10: all files present with the official md5" in capsys.readouterr().out
    dm = CIFAR10DataModule(data_dir=str(data_dir), val_size=4)
    dm.setup()
    assert {name: len(split) for name, split in dm.splits.items()} == {"train": 11, "val": 4, "test": 3}
    assert dm.channels == 3 and dm.num_classes == 10 and dm.splits["test"].images.dtype == torch.uint8
    train_and_val = torch.cat([dm.splits["train"].images, dm.splits["val"].images])
    expected = [torch.from_numpy(cifar10_batch(i)[1]) for i in range(5)]
    assert sorted(map(_key, train_and_val)) == sorted(_key(image) for batch in expected for image in batch)
    assert torch.equal(dm.splits["test"].images, torch.from_numpy(cifar10_batch(5)[1]))
    assert dm.splits["test"].labels.tolist() == cifar10_batch(5)[2]
    x, _ = dm.example_batch("test", 3)
    assert x.shape == (3, 3, 32, 32) and x[0, :, 0, 0].mul(255).round().tolist() == [50, 100, 205]


def test_training_batches_are_concatenated_in_order(placed_by_hand):
    train, test = read_archive(placed_by_hand / CIFAR10_ARCHIVE)
    assert train.labels.tolist() == [label for i in range(5) for label in cifar10_batch(i)[2]]
    assert train.images[:, 0, 5, 7].tolist() == [10 * i + k for i in range(5) for k in range(CIFAR10_PER_BATCH)]


def test_an_archive_with_another_md5_is_refused(tmp_path):
    raw = tmp_path / "data" / "cifar10" / "raw"
    raw.mkdir(parents=True)
    write_cifar10_archive(raw / CIFAR10_ARCHIVE)  # the generated archive under the official md5
    official_md5 = "c58f30108f718f92721af3b95e74349a"
    with pytest.raises(DataError, match=f"checksum mismatch for .*{CIFAR10_ARCHIVE}.*expected {official_md5}"):
        CIFAR10DataModule(data_dir=str(tmp_path / "data")).setup()


def test_without_a_network_the_error_says_how_to_place_the_archive(tmp_path):
    with pytest.raises(DataError) as error:
        ensure_dataset("cifar10", tmp_path, sources=[])
    assert f"download https://www.cs.toronto.edu/~kriz/{CIFAR10_ARCHIVE}" in str(error.value)
    assert "python -m genmodels.data --dataset cifar10 --from <folder holding it>" in str(error.value)


class RunsACommand:
    def __reduce__(self):
        return (os.system, ("echo unpickled",))


def test_a_batch_that_would_run_code_is_refused(tmp_path):
    write_cifar10_archive(tmp_path / CIFAR10_ARCHIVE, replace={"test_batch": pickle.dumps(RunsACommand(), protocol=2)})
    with pytest.raises(DataError, match="test_batch .*is not part of a CIFAR-10 batch"):
        read_archive(tmp_path / CIFAR10_ARCHIVE)


def _key(image: torch.Tensor) -> tuple[int, ...]:
    return tuple(image[:, 0, 0].tolist())


def test_the_cifar10_experiments_train_and_evaluate_on_a_generated_archive(placed_by_hand, tmp_path):
    """experiment=cifar10_conv_vae (the discretized logistic, bits per dimension) and experiment=cifar10_gan (the
    lean GAN at 32x32 in colour, scored by a classifier trained on the archive's training images), debug=tiny."""
    data_dir = tmp_path / "data"
    assert data_cli.main(["--dataset", "cifar10", "--from", str(placed_by_hand), "--data-dir", str(data_dir)]) == 0
    tiny = ["debug=tiny", "data.val_size=4", "data.eval_batch_size=4", *QUICK_CLASSIFIER]
    vae, gan = tmp_path / "vae", tmp_path / "gan"
    run_main("genmodels.train", "experiment=cifar10_conv_vae", *tiny, f"hydra.run.dir={vae}", data=data_dir)
    summary = json.loads((vae / "metrics.json").read_text())
    assert summary["dataset"] == "cifar10" and summary["likelihood"].startswith("discretized_logistic:")
    neg_elbo, bpd = summary["metrics"]["test/neg_elbo"], summary["metrics"]["test/bpd"]
    assert bpd == pytest.approx(neg_elbo / (3 * 32 * 32 * math.log(2)), rel=1e-4)
    quick = ["metrics.iwae_k=4", "metrics.num_test_images=3", "metrics.num_samples=20", "progress=false"]
    quick += ["metrics.inception_score_splits=1", "metrics.pr_k=1"]  # 3 test images
    run_main("genmodels.evaluate", f"run_dir={vae}", *quick, *QUICK_EVAL_CLASSIFIER, data=data_dir)
    result = json.loads((vae / "metrics.json").read_text())["eval"]
    assert result["metrics"]["test_neg_elbo_bpd"] == pytest.approx(
        result["metrics"]["test_neg_elbo"] / (3072 * math.log(2))
    )
    assert result["details"]["sample_quality"]["features"] == "classifier trained on CIFAR-10 (penultimate layer)"
    assert list((data_dir / "classifiers").glob("cifar10_cnn_*.pt"))
    gan_args = ["experiment=cifar10_gan", *tiny, "callbacks.sample_quality.num_samples=20", f"hydra.run.dir={gan}"]
    run_main("genmodels.train", *gan_args, data=data_dir)
    summary = json.loads((gan / "metrics.json").read_text())
    assert summary["image_size"] == 32 and summary["metrics"]["val/fid_clf"] >= 0

"""data=cifar10 on a generated archive of the official format (data_batch_1..5 and test_batch pickles with the
official keys, three images each), registered with its own md5 in place of the official one."""

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
    cifar10_batch,
    place_cifar10_archive,
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

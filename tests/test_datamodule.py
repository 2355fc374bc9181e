import hashlib

import pytest
import torch

from genmodels.data import MNISTDataModule, provision
from genmodels.data.provision import DatasetSpec
from genmodels.errors import ConfigError
from tests.helpers import idx_bytes


@pytest.fixture
def numbered_dataset(monkeypatch, tmp_path):
    """A 60,000/10,000-image dataset whose first three pixels encode each image's index."""
    n_train, n_test = 60000, 10000

    def images(count, offset):
        index = torch.arange(offset, offset + count)
        data = torch.zeros(count, 28, 28, dtype=torch.uint8)
        data[:, 0, 0], data[:, 0, 1], data[:, 0, 2] = index // 65536, index // 256 % 256, index % 256
        data[:, 1:, :] = 128
        return data

    files = {
        provision.TRAIN_IMAGES: idx_bytes(images(n_train, 0)),
        provision.TRAIN_LABELS: idx_bytes(torch.arange(n_train) % 10),
        provision.TEST_IMAGES: idx_bytes(images(n_test, n_train)),
        provision.TEST_LABELS: idx_bytes(torch.arange(n_test) % 10),
    }
    raw = tmp_path / "numbered" / "raw"
    raw.mkdir(parents=True)
    for name, content in files.items():
        (raw / name).write_bytes(content)
    spec = DatasetSpec("numbered", {n: hashlib.md5(c).hexdigest() for n, c in files.items()}, "MNIST")
    monkeypatch.setitem(provision.DATASETS, "numbered", spec)
    return tmp_path


def ids(images: torch.Tensor) -> set[int]:
    digits = images[:, 0, :3].long()
    return set((digits[:, 0] * 65536 + digits[:, 1] * 256 + digits[:, 2]).tolist())


def test_split_sizes_disjoint_and_seeded(numbered_dataset):
    dm = MNISTDataModule(data_dir=str(numbered_dataset), dataset="numbered")
    dm.setup()
    train, val, test = (ids(dm.splits[s].images) for s in ("train", "val", "test"))
    assert (len(train), len(val), len(test)) == (55000, 5000, 10000)
    assert not train & val and not (train | val) & test
    other = MNISTDataModule(data_dir=str(numbered_dataset), dataset="numbered")
    other.setup()
    assert ids(other.splits["val"].images) == val
    reseeded = MNISTDataModule(data_dir=str(numbered_dataset), dataset="numbered", split_seed=1)
    reseeded.setup()
    assert ids(reseeded.splits["val"].images) != val


def test_batches_are_gathered_whole(numbered_dataset):
    dm = MNISTDataModule(data_dir=str(numbered_dataset), dataset="numbered", batch_size=64)
    dm.setup()
    images, labels = next(iter(dm.train_dataloader()))
    assert images.shape == (64, 28, 28) and images.dtype == torch.uint8 and labels.shape == (64,)
    assert len(dm.train_dataloader()) == -(-55000 // 64)
    x, y = dm.on_after_batch_transfer((images, labels), 0)
    assert x.shape == (64, 1, 28, 28) and x.dtype == torch.float32 and torch.equal(y, labels)


@pytest.mark.parametrize("size", [28, 32, 64])
@pytest.mark.parametrize("pixel_range, low, high", [("unit", 0.0, 1.0), ("symmetric", -1.0, 1.0)])
def test_transform_shapes_and_ranges(size, pixel_range, low, high):
    dm = MNISTDataModule(image_size=size, pixel_range=pixel_range)
    images = torch.tensor([0, 255], dtype=torch.uint8).repeat(4, 28, 14)
    x = dm.transform(images)
    assert x.shape == (4, 1, size, size)
    assert x.min().item() == pytest.approx(low) and x.max().item() == pytest.approx(high)


def test_dynamic_binarization_is_fresh_and_unbiased():
    dm = MNISTDataModule(binarize="dynamic")
    grey = torch.full((2000, 28, 28), 77, dtype=torch.uint8)
    first, second = dm.transform(grey), dm.transform(grey)
    assert set(first.unique().tolist()) == {0.0, 1.0}
    assert not torch.equal(first, second)
    assert first.mean().item() == pytest.approx(77 / 255, abs=0.005)


def test_static_binarization_is_drawn_once(numbered_dataset):
    dm = MNISTDataModule(data_dir=str(numbered_dataset), dataset="numbered", binarize="static")
    dm.setup()
    body = dm.splits["train"].images[:, 1:, :]
    assert set(body.unique().tolist()) == {0, 255}
    assert body.float().mean().item() / 255 == pytest.approx(128 / 255, abs=0.005)
    again = MNISTDataModule(data_dir=str(numbered_dataset), dataset="numbered", binarize="static")
    again.setup()
    assert torch.equal(again.splits["train"].images, dm.splits["train"].images)
    batch = dm.splits["train"].images[:8]
    assert torch.equal(dm.transform(batch), dm.transform(batch))


@pytest.mark.parametrize(
    "key, value", [("binarize", "yes"), ("image_size", 48), ("batch_size", 0), ("pixel_range", "pm1")]
)
def test_bad_arguments_name_the_key(key, value):
    with pytest.raises(ConfigError, match=f"data.{key}"):
        MNISTDataModule(**{key: value})


def test_real_mnist(mnist_dir):
    dm = MNISTDataModule(data_dir=str(mnist_dir))
    dm.setup()
    assert [len(dm.splits[s]) for s in ("train", "val", "test")] == [55000, 5000, 10000]
    assert dm.splits["test"].labels[:10].tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]
    x, labels = dm.example_batch("test", 16)
    assert x.shape == (16, 1, 28, 28) and 0.0 <= x.min() and x.max() <= 1.0
    assert torch.bincount(dm.splits["train"].labels.long(), minlength=10).min() > 4500

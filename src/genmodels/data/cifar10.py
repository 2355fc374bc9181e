"""CIFAR-10 from its official python archive (``cifar-10-python.tar.gz``, md5-checked), as an in-memory data
module: 50,000 training and 10,000 test images, RGB 32x32, 10 classes."""

from __future__ import annotations

import pickle
import tarfile
from pathlib import Path

import torch

from genmodels.data.datamodule import (
    SERVED_IMAGE_SIZES,
    Binarize,
    InMemoryImages,
    PixelRange,
    ReferenceData,
    ReferenceSets,
    TensorImages,
    check_choice,
)
from genmodels.data.provision import DATASETS, ensure_dataset
from genmodels.errors import ConfigError, DataError

ARCHIVE_FOLDER = "cifar-10-batches-py"
TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST_BATCH = "test_batch"
# What a batch pickle may build: numpy arrays (numpy 1 and 2 module names). Anything else is refused, not run.
ARRAY_GLOBALS = frozenset(
    {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("_codecs", "encode"),
    }
)


class CIFAR10DataModule(InMemoryImages):
    """CIFAR-10, (N, 3, 32, 32): ``val_size`` training images held out with ``split_seed``; ``image_size`` 32, or
    28/64 by bilinear resizing (the other options: ``InMemoryImages``)."""

    dataset = "cifar10"
    num_classes = 10

    def __init__(
        self,
        data_dir: str = "data",
        batch_size: int = 128,
        eval_batch_size: int = 1000,
        val_size: int = 5000,
        split_seed: int = 0,
        shuffle_seed: int = 0,
        pixel_range: PixelRange = "unit",
        binarize: Binarize = "none",
        binarize_seed: int = 0,
        image_size: int = 32,
        channels: int = 3,
        download_timeout: float = 10.0,
        on_device: bool = True,
    ) -> None:
        super().__init__(
            batch_size,
            eval_batch_size,
            shuffle_seed,
            pixel_range,
            binarize,
            binarize_seed,
            image_size=image_size,
            channels=channels,
            on_device=on_device,
        )
        check_choice("data.image_size", image_size, SERVED_IMAGE_SIZES)
        if channels != 3:
            raise ConfigError(f"data.channels must be 3 for cifar10 (RGB images), got {channels!r}")
        if not 0 < val_size < 50000:
            raise ConfigError(f"data.val_size must be between 1 and 49999, got {val_size!r}")
        self.data_dir, self.val_size, self.split_seed = Path(data_dir), val_size, split_seed
        self.download_timeout = download_timeout

    def prepare_data(self) -> None:
        ensure_dataset(self.dataset, self.data_dir, timeout=self.download_timeout)

    def read_splits(self) -> dict[str, TensorImages]:
        return self.held_out_splits(*self._official_sets(), self.val_size, self.split_seed)

    def reference_data(self) -> ReferenceData:
        return ReferenceData(self.dataset, self.data_dir, 3, 32, self.num_classes, self._reference_sets)

    def _reference_sets(self) -> ReferenceSets:
        train, test = self._official_sets()
        return ReferenceSets(train, train, test)

    def _official_sets(self) -> tuple[TensorImages, TensorImages]:
        """The 50,000 training and 10,000 test images of the archive."""
        folder = ensure_dataset(self.dataset, self.data_dir, timeout=self.download_timeout)
        return read_archive(folder / next(iter(DATASETS[self.dataset].md5)))


def read_archive(path: Path) -> tuple[TensorImages, TensorImages]:
    """The training batches (concatenated in order) and the test batch of the official archive."""
    with tarfile.open(path, "r:gz") as archive:
        train = [_read_batch(archive, name, path) for name in TRAIN_BATCHES]
        test = _read_batch(archive, TEST_BATCH, path)
    images, labels = zip(*train, strict=True)
    return TensorImages(torch.cat(images), torch.cat(labels)), TensorImages(*test)


def _read_batch(archive: tarfile.TarFile, name: str, path: Path) -> tuple[torch.Tensor, torch.Tensor]:
    """One batch pickle: ``data`` (N, 3072) uint8 rows of 1024 red, 1024 green, 1024 blue pixels, row-major,
    and ``labels`` (N,) -> images (N, 3, 32, 32) uint8, labels (N,) int64."""
    try:
        member = archive.extractfile(f"{ARCHIVE_FOLDER}/{name}")
        batch = _ArraysOnly(member, encoding="bytes").load()
    except (KeyError, pickle.UnpicklingError, EOFError, tarfile.TarError) as exc:
        raise DataError(
            f"{path} has no readable {ARCHIVE_FOLDER}/{name} ({exc}). Fix: delete it and place the official archive."
        ) from None
    images = torch.from_numpy(batch[b"data"]).reshape(-1, 3, 32, 32)
    return images, torch.tensor(batch[b"labels"], dtype=torch.int64)


class _ArraysOnly(pickle.Unpickler):
    """Unpickles the batch dictionaries and numpy arrays of the archive and nothing else."""

    def find_class(self, module: str, name: str):
        if (module, name) not in ARRAY_GLOBALS:
            raise pickle.UnpicklingError(f"{module}.{name} is not part of a CIFAR-10 batch")
        return super().find_class(module, name)

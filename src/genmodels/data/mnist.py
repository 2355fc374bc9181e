"""MNIST and Fashion-MNIST: the official IDX files (fetched and md5-checked), as an in-memory data module."""

from __future__ import annotations

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
from genmodels.data.idx import read_idx
from genmodels.data.provision import TEST_IMAGES, TEST_LABELS, TRAIN_IMAGES, TRAIN_LABELS, ensure_dataset, raw_dir
from genmodels.errors import ConfigError

CLASSIFIER_SIDE = 28  # the evaluation classifier's input, whatever data.image_size


class MNISTDataModule(InMemoryImages):
    """MNIST or Fashion-MNIST, grey (N, 28, 28): ``val_size`` training images held out with ``split_seed``;
    ``image_size`` 28, or 32/64 by bilinear resizing (the other options: ``InMemoryImages``)."""

    num_classes = 10

    def __init__(
        self,
        data_dir: str = "data",
        dataset: str = "mnist",
        batch_size: int = 128,
        eval_batch_size: int = 1000,
        val_size: int = 5000,
        split_seed: int = 0,
        shuffle_seed: int = 0,
        pixel_range: PixelRange = "unit",
        binarize: Binarize = "none",
        binarize_seed: int = 0,
        image_size: int = 28,
        channels: int = 1,
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
        if channels != 1:
            raise ConfigError(f"data.channels must be 1 for {dataset} (grey images), got {channels!r}")
        if not 0 < val_size < 60000:
            raise ConfigError(f"data.val_size must be between 1 and 59999, got {val_size!r}")
        self.data_dir, self.dataset, self.val_size, self.split_seed = Path(data_dir), dataset, val_size, split_seed
        self.download_timeout = download_timeout

    def prepare_data(self) -> None:
        ensure_dataset(self.dataset, self.data_dir, timeout=self.download_timeout)

    def read_splits(self) -> dict[str, TensorImages]:
        folder = ensure_dataset(self.dataset, self.data_dir, timeout=self.download_timeout)
        train = TensorImages(read_idx(folder / TRAIN_IMAGES), read_idx(folder / TRAIN_LABELS))
        test = TensorImages(read_idx(folder / TEST_IMAGES), read_idx(folder / TEST_LABELS))
        return self.held_out_splits(train, test, self.val_size, self.split_seed)

    def reference_data(self) -> ReferenceData:
        return ReferenceData(self.dataset, self.data_dir, 1, CLASSIFIER_SIDE, self.num_classes, self._reference_sets)

    def _reference_sets(self) -> ReferenceSets:
        """The classifier trains on the default split's training and validation images (in that order); the
        floors draw from the IDX files' order."""
        splits = MNISTDataModule(data_dir=str(self.data_dir), dataset=self.dataset).read_splits()
        train, val, folder = splits["train"], splits["val"], self.raw_folder()
        return ReferenceSets(
            TensorImages(torch.cat([train.images, val.images]), torch.cat([train.labels, val.labels])),
            TensorImages(read_idx(folder / TRAIN_IMAGES), read_idx(folder / TRAIN_LABELS)),
            splits["test"],
        )

    def raw_folder(self) -> Path:
        """Where this dataset's IDX files live."""
        return raw_dir(self.data_dir, self.dataset)

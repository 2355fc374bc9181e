"""An in-memory LightningDataModule for MNIST-like datasets: batches gathered with one index operation from a
uint8 tensor, transformed (scaling, binarization, resizing) on their device in ``on_after_batch_transfer``."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import lightning as L
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset, Sampler

from genmodels.data.idx import read_idx
from genmodels.data.provision import TEST_IMAGES, TEST_LABELS, TRAIN_IMAGES, TRAIN_LABELS, ensure_dataset, raw_dir
from genmodels.errors import ConfigError, DataError
from genmodels.seeds import epoch_seed

PixelRange = Literal["unit", "symmetric"]
Binarize = Literal["none", "dynamic", "static"]
SERVED_IMAGE_SIZES = (28, 32, 64)  # the sides batches can have: MNIST's own 28, or resized


class TensorImages(Dataset):
    """Images (N, H, W) uint8 and labels (N,) that hand out whole batches with one gather."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor) -> None:
        if len(images) != len(labels):
            raise ValueError(f"{len(images)} images but {len(labels)} labels")
        self.images, self.labels = images, labels

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.images[index], self.labels[index]

    def __getitems__(self, indices: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
        index = torch.as_tensor(indices, device=self.images.device)
        return self.images[index], self.labels[index]

    def to(self, device: torch.device) -> TensorImages:
        """The same images and labels on ``device``."""
        return TensorImages(self.images.to(device), self.labels.to(device))


class EpochShuffle(Sampler[int]):
    """A random order drawn from (seed, epoch): the same epoch always sees the same order, also after a resume."""

    def __init__(self, length: int, seed: int) -> None:
        self.length, self.seed, self.epoch = length, seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self):
        generator = torch.Generator().manual_seed(epoch_seed(self.seed, self.epoch))
        return iter(torch.randperm(self.length, generator=generator).tolist())

    def __len__(self) -> int:
        return self.length


def keep_batch(batch: tuple[torch.Tensor, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """Collate function for batches that ``TensorImages.__getitems__`` already assembled."""
    return batch


class MNISTDataModule(L.LightningDataModule):
    """MNIST or Fashion-MNIST held in memory (on the trainer's GPU with ``on_device``), ``val_size`` training images
    held out with ``split_seed``; ``pixel_range`` unit [0, 1] or symmetric [-1, 1]; ``binarize`` none, dynamic (per
    batch) or static (once, ``binarize_seed``); ``image_size`` 28, or 32/64 by bilinear resizing."""

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
        download_timeout: float = 10.0,
        on_device: bool = True,
    ) -> None:
        super().__init__()
        _check_choice("data.pixel_range", pixel_range, ("unit", "symmetric"))
        _check_choice("data.binarize", binarize, ("none", "dynamic", "static"))
        _check_choice("data.image_size", image_size, SERVED_IMAGE_SIZES)
        for key, value in (("data.batch_size", batch_size), ("data.eval_batch_size", eval_batch_size)):
            if not isinstance(value, int) or value <= 0:
                raise ConfigError(f"{key} must be a positive integer, got {value!r}")
        if not 0 < val_size < 60000:
            raise ConfigError(f"data.val_size must be between 1 and 59999, got {val_size!r}")
        self.data_dir, self.dataset = Path(data_dir), dataset
        self.batch_size, self.eval_batch_size = batch_size, eval_batch_size
        self.val_size, self.split_seed, self.shuffle_seed = val_size, split_seed, shuffle_seed
        self.pixel_range, self.binarize, self.binarize_seed = pixel_range, binarize, binarize_seed
        self.image_size, self.download_timeout, self.on_device = image_size, download_timeout, on_device
        self.splits: dict[str, TensorImages] = {}

    def prepare_data(self) -> None:
        ensure_dataset(self.dataset, self.data_dir, timeout=self.download_timeout)

    def setup(self, stage: str | None = None) -> None:
        if not self.splits:
            self.splits = self._read_splits()
        if self.on_device and self.trainer is not None and self.trainer.strategy.root_device.type == "cuda":
            self.splits = {name: split.to(self.trainer.strategy.root_device) for name, split in self.splits.items()}

    def _read_splits(self) -> dict[str, TensorImages]:
        folder = ensure_dataset(self.dataset, self.data_dir, timeout=self.download_timeout)
        train_images, train_labels = read_idx(folder / TRAIN_IMAGES), read_idx(folder / TRAIN_LABELS)
        test_images, test_labels = read_idx(folder / TEST_IMAGES), read_idx(folder / TEST_LABELS)
        if self.binarize == "static":
            train_images = _bernoulli_draw(train_images, self.binarize_seed)
            test_images = _bernoulli_draw(test_images, self.binarize_seed + 1)
        order = torch.randperm(len(train_images), generator=torch.Generator().manual_seed(self.split_seed))
        val_index, train_index = order[: self.val_size], order[self.val_size :]
        return {
            "train": TensorImages(train_images[train_index], train_labels[train_index]),
            "val": TensorImages(train_images[val_index], train_labels[val_index]),
            "test": TensorImages(test_images, test_labels),
        }

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", self.batch_size, shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader("val", self.eval_batch_size, shuffle=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader("test", self.eval_batch_size, shuffle=False)

    def _loader(self, split: str, batch_size: int, shuffle: bool) -> DataLoader:
        if not self.splits:
            raise DataError("the data module was not set up; call setup() first")
        dataset = self.splits[split]
        sampler = EpochShuffle(len(dataset), self.shuffle_seed) if shuffle else None
        # A private generator: creating an iterator draws nothing from the global RNG (exact resume).
        generator = torch.Generator().manual_seed(self.shuffle_seed)
        return DataLoader(dataset, batch_size=batch_size, sampler=sampler, collate_fn=keep_batch, generator=generator)

    def example_batch(self, split: str, count: int, device: torch.device | str = "cpu"):
        """The first ``count`` images of a split, transformed as training batches are, and their labels."""
        if not self.splits:
            self.setup()
        images, labels = self.splits[split][:count]
        return self.transform(images.to(device)), labels

    def on_after_batch_transfer(self, batch, dataloader_idx: int):
        images, labels = batch
        return self.transform(images), labels

    def transform(self, images: torch.Tensor) -> torch.Tensor:
        """uint8 (B, H, W) on any device -> float (B, 1, S, S) in the configured pixel range."""
        x = images.unsqueeze(1).float().div_(255.0)
        if self.binarize == "dynamic":
            x = torch.bernoulli(x)
        x = resize(x, self.image_size)
        if self.pixel_range == "symmetric":
            x = x.mul_(2.0).sub_(1.0)
        return x

    @property
    def binarization_note(self) -> str:
        """A sentence stating which targets likelihood numbers on this data belong to."""
        return {
            "none": "grey-level targets in [0, 1] (not comparable with binarized-MNIST numbers)",
            "dynamic": "dynamically binarized targets (fresh Bernoulli draw per batch)",
            "static": f"statically binarized targets (one Bernoulli draw, seed {self.binarize_seed})",
        }[self.binarize]

    def raw_folder(self) -> Path:
        """Where this dataset's IDX files live."""
        return raw_dir(self.data_dir, self.dataset)


def resize(images: torch.Tensor, image_size: int) -> torch.Tensor:
    """Float images (B, C, H, W) resized bilinearly to ``image_size`` squared (as they are if already that size)."""
    if images.shape[-1] == image_size:
        return images
    return F.interpolate(images, size=(image_size, image_size), mode="bilinear", align_corners=False)


def unit_images(images: torch.Tensor, image_size: int) -> torch.Tensor:
    """uint8 images (N, H, W) as float (N, 1, S, S) grey levels in [0, 1], resized as in training."""
    return resize(images.unsqueeze(1).float().div(255.0), image_size).clamp(0, 1)


def _bernoulli_draw(images: torch.Tensor, seed: int) -> torch.Tensor:
    probabilities = images.float().div_(255.0)
    draw = torch.bernoulli(probabilities, generator=torch.Generator().manual_seed(seed))
    return draw.to(torch.uint8).mul_(255)


def _check_choice(key: str, value, allowed: tuple) -> None:
    if value not in allowed:
        raise ConfigError(f"{key} must be one of {list(allowed)}, got {value!r}")

"""The in-memory LightningDataModule every dataset shares: uint8 images (N, H, W) grey or (N, C, H, W), batches
gathered with one index operation, transformed (scaling, binarization, resizing) on their device in
``on_after_batch_transfer``. Subclasses only read their splits (``read_splits``)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Literal, NamedTuple

import lightning as L
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset, Sampler

from genmodels.errors import ConfigError, DataError
from genmodels.seeds import epoch_seed

PixelRange = Literal["unit", "symmetric"]
Binarize = Literal["none", "dynamic", "static"]
CHANNEL_COUNTS = (1, 3)  # grey or RGB
SERVED_IMAGE_SIZES = (28, 32, 64)  # sides a fixed-size dataset (MNIST 28, CIFAR-10 32) is served at, by resizing


class TensorImages(Dataset):
    """Images (N, H, W) or (N, C, H, W) uint8 and labels (N,) that hand out whole batches with one gather."""

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


class ReferenceSets(NamedTuple):
    """The real images sample scores are measured against, uint8 and unbinarized (each ``TensorImages``)."""

    classifier_train: TensorImages  # what the evaluation classifier trains on (the training images)
    train: TensorImages  # the training images in the dataset's own order: the real-vs-real floors draw from them
    test: TensorImages


class ReferenceData(NamedTuple):
    """A dataset as the sample scores see it: the identity its evaluation classifier and Inception statistics are
    cached under (``name`` in ``folder``), the classifier's input (``channels`` x ``side`` squared), the classes
    (None: no labels, so no classifier) and ``load``, which reads the ``ReferenceSets``."""

    name: str
    folder: Path
    channels: int
    side: int
    num_classes: int | None
    load: Callable[[], ReferenceSets]


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


class InMemoryImages(L.LightningDataModule):
    """A dataset's train/val/test splits held in memory (on the trainer's GPU with ``on_device``); ``pixel_range``
    unit [0, 1] or symmetric [-1, 1]; ``binarize`` none, dynamic (per batch) or static (once, ``binarize_seed``,
    applied by ``read_splits``); batches resized bilinearly to ``image_size`` if stored at another size.

    Subclasses set ``dataset`` (a name), ``channels`` (1 or 3) and ``num_classes`` (None without labels; the labels
    are then -1) and implement ``read_splits`` and ``reference_data``."""

    dataset: str
    num_classes: int | None

    def __init__(
        self,
        batch_size: int = 128,
        eval_batch_size: int = 1000,
        shuffle_seed: int = 0,
        pixel_range: PixelRange = "unit",
        binarize: Binarize = "none",
        binarize_seed: int = 0,
        image_size: int = 28,
        channels: int | None = 1,
        on_device: bool = True,
    ) -> None:
        super().__init__()
        check_choice("data.pixel_range", pixel_range, ("unit", "symmetric"))
        check_choice("data.binarize", binarize, ("none", "dynamic", "static"))
        if channels is not None:
            check_choice("data.channels", channels, CHANNEL_COUNTS)
        for key, value in (("data.batch_size", batch_size), ("data.eval_batch_size", eval_batch_size)):
            if not isinstance(value, int) or value <= 0:
                raise ConfigError(f"{key} must be a positive integer, got {value!r}")
        self.batch_size, self.eval_batch_size, self.shuffle_seed = batch_size, eval_batch_size, shuffle_seed
        self.pixel_range, self.binarize, self.binarize_seed = pixel_range, binarize, binarize_seed
        self.image_size, self.channels, self.on_device = image_size, channels, on_device
        self.splits: dict[str, TensorImages] = {}

    def read_splits(self) -> dict[str, TensorImages]:
        """The "train", "val" and "test" images (uint8) and labels (integers), on the CPU."""
        raise NotImplementedError

    def reference_data(self) -> ReferenceData:
        """What the sample scores of this dataset are computed with (after ``setup``)."""
        raise NotImplementedError

    def setup(self, stage: str | None = None) -> None:
        if not self.splits:
            self.splits = self.read_splits()
        if self.on_device and self.trainer is not None and self.trainer.strategy.root_device.type == "cuda":
            self.splits = {name: split.to(self.trainer.strategy.root_device) for name, split in self.splits.items()}

    def held_out_splits(
        self,
        train: TensorImages,
        test: TensorImages,
        val_size: int,
        split_seed: int,
    ) -> dict[str, TensorImages]:
        """A dataset's official train and test sets as splits: ``val_size`` training images held out at random
        (``split_seed``) for validation; with static binarization one Bernoulli draw per set first."""
        train_images, test_images = train.images, test.images
        if self.binarize == "static":
            train_images = bernoulli_draw(train_images, self.binarize_seed)
            test_images = bernoulli_draw(test_images, self.binarize_seed + 1)
        order = torch.randperm(len(train_images), generator=torch.Generator().manual_seed(split_seed))
        val_index, train_index = order[:val_size], order[val_size:]
        return {
            "train": TensorImages(train_images[train_index], train.labels[train_index]),
            "val": TensorImages(train_images[val_index], train.labels[val_index]),
            "test": TensorImages(test_images, test.labels),
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
        """uint8 (B, H, W) or (B, C, H, W) on any device -> float (B, C, S, S) in the configured pixel range."""
        x = with_channel_axis(images).float().div_(255.0)
        if self.binarize == "dynamic":
            x = torch.bernoulli(x)
        x = resize(x, self.image_size)
        if self.pixel_range == "symmetric":
            x = x.mul_(2.0).sub_(1.0)
        return x

    @property
    def binarization_note(self) -> str:
        """A sentence stating which targets likelihood numbers on this data belong to."""
        levels = "RGB-level" if self.channels == 3 else "grey-level"
        return {
            "none": f"{levels} targets in [0, 1] (not comparable with binarized-MNIST numbers)",
            "dynamic": "dynamically binarized targets (fresh Bernoulli draw per batch)",
            "static": f"statically binarized targets (one Bernoulli draw, seed {self.binarize_seed})",
        }[self.binarize]


def with_channel_axis(images: torch.Tensor) -> torch.Tensor:
    """Grey images stored without a channel axis, (N, H, W), as (N, 1, H, W); (N, C, H, W) as they are."""
    return images.unsqueeze(1) if images.dim() == 3 else images


def resize(images: torch.Tensor, image_size: int) -> torch.Tensor:
    """Float images (B, C, H, W) resized bilinearly to ``image_size`` squared (as they are if already that size)."""
    if images.shape[-1] == image_size:
        return images
    return F.interpolate(images, size=(image_size, image_size), mode="bilinear", align_corners=False)


def unit_images(images: torch.Tensor, image_size: int) -> torch.Tensor:
    """uint8 images (N, H, W) or (N, C, H, W) as float (N, C, S, S) in [0, 1], resized as in training."""
    return resize(with_channel_axis(images).float().div(255.0), image_size).clamp(0, 1)


def bernoulli_draw(images: torch.Tensor, seed: int) -> torch.Tensor:
    """One Bernoulli draw per pixel with the grey level as probability, as uint8 0 / 255."""
    probabilities = images.float().div_(255.0)
    draw = torch.bernoulli(probabilities, generator=torch.Generator().manual_seed(seed))
    return draw.to(torch.uint8).mul_(255)


def check_choice(key: str, value, allowed: tuple) -> None:
    if value not in allowed:
        raise ConfigError(f"{key} must be one of {list(allowed)}, got {value!r}")

"""Your own images: every image under a folder, labelled by its class subfolders (if any), decoded once into a
cached uint8 tensor and split into train/val/test by its train/val/test folders or by a seed."""

from __future__ import annotations

from pathlib import Path

import torch

from genmodels.data.datamodule import (
    Binarize,
    InMemoryImages,
    PixelRange,
    ReferenceData,
    ReferenceSets,
    TensorImages,
    bernoulli_draw,
)
from genmodels.data.folder_cache import ensure_cache, read_cache
from genmodels.data.image_files import (
    SPLIT_FOLDERS,
    FolderLayout,
    check_folder,
    detect_channels,
    folder_layout,
    list_images,
)
from genmodels.errors import ConfigError, DataError


class FolderDataModule(InMemoryImages):
    """The images under ``path`` at ``image_size`` x ``image_size`` (shorter side resized, centre-cropped), grey or
    RGB (``channels``; None: 3 if any file is in colour). Labels are the class subfolders' indices in sorted
    order (``classes``), -1 when the images lie directly in the folder (``num_classes`` None). Splits come from
    top-level ``train/``, ``val/``, ``test/`` folders where present; the rest are drawn from the training images
    with ``split_seed``: ``val_fraction`` and ``test_fraction`` of them. ``channels`` and ``num_classes`` are known
    from the files after ``setup``; decoded images are cached in ``cache_dir``."""

    def __init__(
        self,
        path: str | None = None,
        cache_dir: str = "data/folders",
        batch_size: int = 128,
        eval_batch_size: int = 1000,
        val_fraction: float = 0.1,
        test_fraction: float = 0.1,
        split_seed: int = 0,
        shuffle_seed: int = 0,
        pixel_range: PixelRange = "unit",
        binarize: Binarize = "none",
        binarize_seed: int = 0,
        image_size: int = 32,
        channels: int | None = None,
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
        if not path:
            raise ConfigError("data=folder needs the folder of images: data.path=<folder>")
        if not isinstance(image_size, int) or image_size < 1:
            raise ConfigError(f"data.image_size must be a positive integer, got {image_size!r}")
        for key, fraction in (("data.val_fraction", val_fraction), ("data.test_fraction", test_fraction)):
            if not 0 <= fraction < 1:
                raise ConfigError(f"{key} must be at least 0 and below 1, got {fraction!r}")
        if val_fraction + test_fraction >= 1:
            total = val_fraction + test_fraction
            raise ConfigError(f"data.val_fraction + data.test_fraction must be below 1, got {total}")
        self.root, self.cache_dir = Path(path).expanduser(), Path(cache_dir)
        check_folder(self.root)  # before a model is built from ${data.channels}
        self.val_fraction, self.test_fraction, self.split_seed = val_fraction, test_fraction, split_seed
        self.dataset = f"folder {self.root.name}"
        self.classes: tuple[str, ...] = ()
        self.num_classes = None

    def prepare_data(self) -> None:
        self._cache()  # decoded once, before the processes of a multi-GPU run read the cache

    def read_splits(self) -> dict[str, TensorImages]:
        return self._decoded_splits(binarize=self.binarize == "static")

    def reference_data(self) -> ReferenceData:
        """Named after the cache file (folder name, size, channels, path hash, checksum of the files) and the
        test split: two folders, or two versions of one, never share a classifier."""
        cache, _ = self._cache()
        name = f"folder-{cache.stem}-test{self.test_fraction:g}-seed{self.split_seed}"
        return ReferenceData(name, self.cache_dir, self.channels, self.image_size, self.num_classes, self._reference)

    def _reference(self) -> ReferenceSets:
        """The classifier trains on the training and validation images, unbinarized; the floors draw from them."""
        splits = self._decoded_splits(binarize=False)
        train, val = splits["train"], splits["val"]
        train = TensorImages(torch.cat([train.images, val.images]), torch.cat([train.labels, val.labels]))
        return ReferenceSets(train, train, splits["test"])

    def _decoded_splits(self, binarize: bool) -> dict[str, TensorImages]:
        """The decoded images' splits (setting ``channels``, ``classes`` and ``num_classes``), with one Bernoulli
        draw of all images first if ``binarize``."""
        cache, layout = self._cache()
        images = read_cache(cache)
        self.channels = images.shape[1]
        if binarize:
            images = bernoulli_draw(images, self.binarize_seed)
        self.classes, self.num_classes = layout.classes, len(layout.classes) or None
        labels = torch.tensor(layout.labels, dtype=torch.int64)
        indices = split_indices(layout.splits, self.val_fraction, self.test_fraction, self.split_seed)
        return {name: TensorImages(images[index], labels[index]) for name, index in indices.items()}

    def _cache(self) -> tuple[Path, FolderLayout]:
        """The cache file of the folder's decoded images (written if needed) and what its subfolders say."""
        files = list_images(self.root)
        layout = folder_layout(self.root, files)
        channels = self.channels or detect_channels(self.root, files)
        return ensure_cache(self.root, files, self.cache_dir, self.image_size, channels), layout


def split_indices(
    folder_splits: tuple[str | None, ...], val_fraction: float, test_fraction: float, seed: int
) -> dict[str, torch.Tensor]:
    """Image indices per split: those a train/val/test folder assigns, and for a split without a folder its
    fraction of the training images (or of all, without folders) in an order drawn from ``seed``."""
    assigned = {name: [i for i, split in enumerate(folder_splits) if split == name] for name in SPLIT_FOLDERS}
    pool = torch.tensor([i for i, split in enumerate(folder_splits) if split in (None, "train")], dtype=torch.int64)
    pool = pool[torch.randperm(len(pool), generator=torch.Generator().manual_seed(seed))]
    indices, start = {}, 0
    for name, fraction in (("val", val_fraction), ("test", test_fraction)):
        if assigned[name]:
            indices[name] = torch.tensor(assigned[name], dtype=torch.int64)
            continue
        count = round(len(pool) * fraction)
        if count == 0:
            raise DataError(
                f"data.{name}_fraction={fraction} of {len(pool)} images leaves the {name} split empty. "
                f"Fix: a larger data.{name}_fraction, more images, or a {name}/ folder."
            )
        indices[name], start = pool[start : start + count], start + count
    indices["train"] = pool[start:]
    if len(indices["train"]) == 0:
        raise DataError("no training images are left after the val and test splits. Fix: smaller fractions.")
    return {name: indices[name] for name in ("train", "val", "test")}

"""Decoding a folder of images once into a uint8 tensor (N, C, S, S), cached in a file named by a checksum of the
file list (names, sizes, modification times) and the options: a later run reads the tensor back."""

from __future__ import annotations

import hashlib
import logging
import os
import pickle
import tempfile
import time
from pathlib import Path

import torch
from torchvision.transforms import functional as TF
from tqdm.auto import tqdm

from genmodels.data.image_files import ImageFile, listing_digest
from genmodels.data.provision import check_writable
from genmodels.errors import DataError

log = logging.getLogger(__name__)

CACHE_FORMAT = 1  # bump when the decoding changes: older caches are then decoded again
NAMED_FILES = 3  # problem files named in an error message


def ensure_cache(root: Path, files: list[ImageFile], cache_dir: Path, image_size: int, channels: int) -> Path:
    """The cache file of ``files`` at these options, decoded and written first if there is none. Its name carries
    the checksum of the file list and options: a changed file gives a new name, and the stale cache is removed."""
    digest = listing_digest(files, {"format": CACHE_FORMAT, "image_size": image_size, "channels": channels})
    stem = f"{root.resolve().name}-{image_size}px-{channels}ch-{_path_tag(root)}"
    cache = cache_dir / f"{stem}-{digest[:16]}.pt"
    if cache.exists():
        return cache
    start = time.perf_counter()
    images = decode_images(root, files, image_size, channels)
    check_writable(cache_dir, f"cache the decoded images of {root}")
    with tempfile.NamedTemporaryFile(dir=cache_dir, prefix=".partial-", suffix=".pt", delete=False) as partial:
        torch.save({"images": images}, partial)
    os.replace(partial.name, cache)  # atomic: an interrupted write never leaves a half cache
    for stale in cache_dir.glob(f"{stem}-*.pt"):
        if stale != cache:
            stale.unlink(missing_ok=True)
    log.info("Decoded %d images of %s in %.1f s; cached in %s", len(images), root, time.perf_counter() - start, cache)
    return cache


def read_cache(cache: Path) -> torch.Tensor:
    """The decoded images (N, C, S, S) uint8 in a cache file."""
    try:
        images = torch.load(cache, weights_only=True)["images"]
    except (OSError, RuntimeError, EOFError, KeyError, pickle.UnpicklingError) as exc:
        raise DataError(
            f"the image cache {cache} cannot be read ({exc}). Fix: delete it; it is decoded again."
        ) from None
    log.info("Read %d decoded images from %s", len(images), cache)
    return images


def _path_tag(root: Path) -> str:
    """A short hash of the folder's absolute path: two folders of the same name get their own caches."""
    return hashlib.sha256(str(root.resolve()).encode()).hexdigest()[:8]


def decode_images(
    root: Path, files: list[ImageFile], image_size: int, channels: int, upscale: bool = False
) -> torch.Tensor:
    """Each image converted to grey (1) or RGB (3), its shorter side resized to ``image_size`` (bilinear, with
    Pillow's antialiasing), centre-cropped square: (N, C, S, S) uint8. Unreadable files, and unless ``upscale`` files
    smaller than ``image_size``, stop it with one message naming them."""
    from PIL import Image, ImageOps

    mode = {1: "L", 3: "RGB"}[channels]  # RGBA and LA lose their alpha channel
    images = torch.empty((len(files), channels, image_size, image_size), dtype=torch.uint8)
    unreadable, too_small = [], []
    for i, file in enumerate(tqdm(files, desc=f"Decoding {root.name}", unit="img", leave=False)):
        try:
            with Image.open(root / file.relative) as opened:
                image = ImageOps.exif_transpose(opened).convert(mode)  # photos stored rotated stand upright
        except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
            unreadable.append(f"{file.relative} ({exc})")
            continue
        if min(image.size) < image_size and not upscale:
            too_small.append(f"{file.relative} ({image.width}x{image.height})")
            continue
        square = TF.center_crop(TF.resize(image, image_size), image_size)
        images[i] = TF.pil_to_tensor(square)
    if unreadable:
        raise DataError(
            f"{_count(unreadable)} under {root} cannot be read as images: {_named(unreadable)}. "
            "Fix: replace or delete them (or move them out of the folder)."
        )
    if too_small:
        raise DataError(
            f"{_count(too_small)} under {root} are smaller than data.image_size={image_size} on their shorter side: "
            f"{_named(too_small)}. Fix: a smaller data.image_size, or remove those images."
        )
    return images


def _count(problems: list[str]) -> str:
    return f"{len(problems)} file" if len(problems) == 1 else f"{len(problems)} files"


def _named(problems: list[str]) -> str:
    more = len(problems) - NAMED_FILES
    return ", ".join(problems[:NAMED_FILES]) + (f" and {more} more" if more > 0 else "")

"""Image files in and out of ``genmodels.sample``: the output folder (one PNG per image, one ``.npz`` or one grid,
and ``samples.json``), staged beside its final place and moved there whole; and the images it reads to reconstruct
(a folder of pictures or an ``.npz``), as uint8 levels with the run's channels."""

from __future__ import annotations

import io
import json
import math
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torchvision.io import encode_png
from torchvision.transforms.v2.functional import rgb_to_grayscale
from torchvision.utils import save_image

from genmodels.data.folder_cache import decode_images
from genmodels.data.image_files import ImageFile, list_images
from genmodels.errors import ConfigError, DataError
from genmodels.images import image_grid
from genmodels.runs.atomic import write_atomic, write_json

FORMATS = ("png", "npz", "grid")
MANIFEST = "samples.json"  # what was drawn, from which run and checkpoint, with which settings; marks our folders


def check_out_folder(out: Path, run: Path, overwrite: bool, write_into_run: bool) -> None:
    """Refuse, before anything is computed, an ``out`` that is a file, lies inside the run folder (unless
    ``write_into_run``), or holds files (unless ``overwrite`` and an earlier ``genmodels.sample`` wrote them)."""
    resolved, run = out.resolve(), run.resolve()
    if resolved == run or (run in resolved.parents and not write_into_run):
        raise ConfigError(
            f"out={out} lies inside the run folder {run}, which records the training run. Fix: pass another out= "
            "folder, or write_into_run=true to write into a new subfolder of the run."
        )
    if out.exists() and not out.is_dir():
        raise ConfigError(f"out={out} is a file. Fix: pass a new folder (or an empty one) as out=.")
    if not out.is_dir() or not any(out.iterdir()):
        return
    if not overwrite:
        raise ConfigError(
            f"out={out} is not empty. Fix: pass a new folder as out=, or overwrite=true to replace the "
            "samples an earlier genmodels.sample wrote there."
        )
    if not (out / MANIFEST).is_file():
        raise ConfigError(
            f"out={out} holds files that genmodels.sample did not write (it has no {MANIFEST}), so "
            "overwrite=true does not replace it. Fix: pass a new folder as out=."
        )


@contextmanager
def staged_folder(out: Path) -> Iterator[Path]:
    """A hidden folder beside ``out`` to write into; on success it replaces ``out`` (two renames), on any failure it
    is removed and ``out`` is as it was."""
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.", suffix=".partial"))
    try:
        yield staging
        if out.exists():
            previous = out.with_name(f".{out.name}.{uuid.uuid4().hex[:8]}.replaced")
            os.replace(out, previous)
            os.replace(staging, out)
            shutil.rmtree(previous)
        else:
            os.replace(staging, out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def as_bytes(pictures: torch.Tensor) -> torch.Tensor:
    """Pictures in [0, 1] -> uint8 0..255, rounded as torchvision's ``save_image`` rounds."""
    return pictures.mul(255).add_(0.5).clamp_(0, 255).to(torch.uint8)


def write_pngs(folder: Path, batches: Iterable[torch.Tensor], prefix: str, count: int) -> list[str]:
    """One PNG per picture, ``<prefix>_00000.png`` onwards (grey or RGB as the pictures' channels); their names."""
    width = max(5, len(str(count - 1)))
    names: list[str] = []
    for batch in batches:
        for picture in as_bytes(batch):
            names.append(f"{prefix}_{len(names):0{width}d}.png")
            write_atomic(folder / names[-1], encode_png(picture).numpy().tobytes())
    return names


def write_npz(folder: Path, name: str, arrays: dict[str, torch.Tensor], settings: dict[str, Any]) -> str:
    """``arrays`` and the settings (a JSON string) in one compressed ``.npz``, loadable without pickle."""
    buffer = io.BytesIO()
    plain = {key: value.numpy() for key, value in arrays.items()}
    np.savez_compressed(buffer, **plain, settings=np.array(json.dumps(settings, default=str)))
    write_atomic(folder / name, buffer.getvalue())
    return name


def write_grid(folder: Path, name: str, pictures: torch.Tensor, nrow: int | None = None) -> str:
    """All pictures in one PNG, ``nrow`` to a row (default: a square grid), white between them."""
    buffer = io.BytesIO()
    save_image(image_grid(pictures, nrow=nrow or math.ceil(math.sqrt(len(pictures)))), buffer, format="png")
    write_atomic(folder / name, buffer.getvalue())
    return name


def write_manifest(folder: Path, manifest: dict[str, Any]) -> None:
    write_json(folder / MANIFEST, manifest)


def read_images(
    source: str | Path, channels: int, image_size: int
) -> tuple[torch.Tensor, list[str], torch.Tensor | None]:
    """Images to reconstruct as uint8 (N, ``channels``, H, W), where each came from, and their classes (N,) int64
    (-1: unknown; None: none given). A folder's pictures (every file Pillow opens) lie in it, or in class subfolders
    named by the class index (``0/``, ``1/``, ...); they are decoded as a ``data=folder`` run decodes its images, to
    ``channels`` and ``image_size`` (shorter side resized, centre-cropped). An ``.npz`` holds an ``images`` array
    (uint8, N x H x W or N x C x H x W with C = 1 or 3, square) and optionally ``labels``, as ``format=npz`` writes
    them; its images are converted to ``channels``."""
    path = Path(source).expanduser()
    if path.is_dir():
        return folder_images(path, channels, image_size)
    if path.suffix != ".npz" or not path.is_file():
        raise DataError(f"reconstruct={path} is neither a folder of pictures nor an .npz file. Fix: pass one.")
    images, labels = npz_images(path)
    if images.shape[-1] != images.shape[-2]:
        raise DataError(
            f"reconstruct={path}: the images are {images.shape[-2]}x{images.shape[-1]}, not square; the model takes "
            "square images. Fix: crop or pad them to a square first."
        )
    return with_channels(images, channels), [f"{path.name}[{index}]" for index in range(len(images))], labels


def folder_images(path: Path, channels: int, image_size: int) -> tuple[torch.Tensor, list[str], torch.Tensor | None]:
    """The pictures of a folder (N, C, S, S), their paths in it, and their classes when they lie in class
    subfolders (``<path>/<class index>/``) instead of the folder itself."""
    try:
        files = list_images(path)
    except DataError:  # none there: said below in reconstruct's words
        files = []
    loose, labels = [file for file in files if "/" not in file.relative], None
    if not loose:
        classed = sorted((class_index(file), file.relative, file) for file in files if class_index(file) is not None)
        files, labels = [file for *_, file in classed], torch.tensor([label for label, *_ in classed], dtype=torch.long)
    files = loose or files
    if not files:
        raise DataError(
            f"reconstruct={path} holds no pictures, in itself or in class subfolders (0/, 1/, ...). "
            "Fix: pass a folder of them or a .npz."
        )
    images = decode_images(path, files, image_size, channels, upscale=True)
    return images, [file.relative for file in files], labels


def class_index(file: ImageFile) -> int | None:
    """The class a picture's subfolder names (``<index>/...``); None for a picture outside such a folder."""
    folder, _, rest = file.relative.partition("/")
    return int(folder) if rest and folder.isdigit() else None


def with_channels(images: torch.Tensor, channels: int) -> torch.Tensor:
    """uint8 images (N, H, W) or (N, C, H, W) as (N, ``channels``, H, W): colour to grey, grey repeated to RGB."""
    images = images.unsqueeze(1) if images.dim() == 3 else images
    if images.shape[1] == channels:
        return images
    return rgb_to_grayscale(images) if channels == 1 else images.expand(-1, channels, -1, -1).contiguous()


def npz_images(path: Path) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The ``images`` array of an ``.npz`` file (as ``genmodels.sample format=npz`` writes it), uint8 (N, H, W) or
    (N, C, H, W), and its ``labels`` (N,) int64 if it has them."""
    with np.load(path, allow_pickle=False) as arrays:
        if "images" not in arrays:
            raise DataError(f"{path} has no 'images' array (it has {sorted(arrays)}). Fix: save them as images=...")
        images = torch.from_numpy(arrays["images"])
        labels = torch.from_numpy(arrays["labels"]) if "labels" in arrays else None
    shape_ok = images.dim() == 3 or (images.dim() == 4 and images.shape[1] in (1, 3))
    if images.dtype != torch.uint8 or not shape_ok:
        raise DataError(
            f"{path}: 'images' is {str(images.dtype).removeprefix('torch.')} of shape {tuple(images.shape)}; "
            "expected uint8 levels 0..255 of shape N x H x W or N x C x H x W (C = 1 or 3)."
        )
    if labels is not None and (labels.shape != images.shape[:1] or labels.is_floating_point()):
        raise DataError(
            f"{path}: 'labels' is {str(labels.dtype).removeprefix('torch.')} of shape {tuple(labels.shape)}; "
            f"expected an integer class per image, shape ({len(images)},)."
        )
    return images, None if labels is None else labels.long()

"""The images under a folder (every file Pillow opens), a checksum of their listing, their colour, and the labels
and splits their subfolders give. Free of torch: configs ask for a folder's channels through it."""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from genmodels.errors import DataError

SPLIT_FOLDERS = ("train", "val", "test")  # top-level subfolders that fix the split instead of split_seed
# Pillow modes without colour; every other mode (RGB, RGBA, CMYK, palette "P", ...) counts as colour.
GREY_MODES = frozenset({"1", "L", "LA", "La", "I", "I;16", "I;16B", "I;16L", "I;16N", "F"})


@dataclass(frozen=True)
class ImageFile:
    """One image under the folder: its path relative to the folder (POSIX), size and modification time."""

    relative: str
    size: int
    mtime_ns: int


@dataclass(frozen=True)
class FolderLayout:
    """What the subfolders say: class names (empty: no labels) and, per file, its label (-1: none) and the split
    its train/val/test folder puts it in (None: drawn by the seed)."""

    classes: tuple[str, ...]
    labels: tuple[int, ...]
    splits: tuple[str | None, ...]


def image_extensions() -> frozenset[str]:
    """The file extensions (lower case, with the dot) that Pillow can open."""
    from PIL import Image

    Image.init()
    return frozenset(ext for ext, image_format in Image.registered_extensions().items() if image_format in Image.OPEN)


def list_images(root: Path) -> list[ImageFile]:
    """Every image file under ``root``, sorted by path; hidden files and folders, and anything that is not a regular
    file, are skipped."""
    check_folder(root)
    extensions = image_extensions()
    files = []
    for folder, subfolders, names in os.walk(root):
        subfolders[:] = sorted(name for name in subfolders if not name.startswith("."))
        for name in sorted(names):
            if name.startswith(".") or os.path.splitext(name)[1].lower() not in extensions:
                continue
            path = Path(folder, name)
            if not path.is_file():  # e.g. a named pipe, which would block a read
                continue
            stat = path.stat()
            files.append(ImageFile(path.relative_to(root).as_posix(), stat.st_size, stat.st_mtime_ns))
    if not files:
        raise DataError(
            f"no images under {root} (looked for the files Pillow opens: .png, .jpg, .jpeg, .bmp, .gif, .webp, "
            ".tif, ...). Fix: data.path=<a folder holding image files, directly or in subfolders>."
        )
    return sorted(files, key=lambda file: file.relative)


def check_folder(root: Path) -> None:
    """A ``DataError`` naming the fix unless ``root`` is an existing folder."""
    if not root.exists():
        raise DataError(f"the image folder {root} does not exist. Fix: data.path=<a folder of images>.")
    if not root.is_dir():
        raise DataError(f"{root} is a file, not a folder. Fix: data.path=<the folder that holds the images>.")


def listing_digest(files: list[ImageFile], options: dict) -> str:
    """A sha256 of the file list (names, sizes, modification times) and the decoding options."""
    listing = [[file.relative, file.size, file.mtime_ns] for file in files]
    return hashlib.sha256(json.dumps([options, listing]).encode()).hexdigest()


def detect_channels(root: Path, files: list[ImageFile]) -> int:
    """3 if any image is in colour (read from the file headers, stopping at the first), else 1. Files Pillow cannot
    open are skipped here; decoding names them."""
    from PIL import Image

    for file in files:
        try:
            with Image.open(root / file.relative) as image:
                if image.mode not in GREY_MODES:
                    return 3
        except (OSError, SyntaxError, ValueError, Image.DecompressionBombError):
            continue
    return 1


def folder_channels(path: str | None) -> int | None:
    """The channels of the images under ``path`` (``${image_channels:...}`` in configs); None where there is no
    folder of images, for the data module to report."""
    root = Path(path).expanduser() if path else None
    if root is None or not root.is_dir():
        return None
    try:
        return detect_channels(root, list_images(root))
    except DataError:
        return None


def folder_layout(root: Path, files: list[ImageFile]) -> FolderLayout:
    """Labels from class subfolders (all images in one, or none), splits from top-level train/val/test folders."""
    parts = [PurePosixPath(file.relative).parts for file in files]
    by_split_folder = any(len(p) > 1 and p[0] in SPLIT_FOLDERS for p in parts)
    if by_split_folder:
        outside = [file.relative for file, p in zip(files, parts) if len(p) == 1 or p[0] not in SPLIT_FOLDERS]
        if outside:
            raise DataError(
                f"{root} has train/val/test folders, but {len(outside)} images lie outside them (e.g. {outside[0]}). "
                "Fix: move them into train/, val/ or test/, or rename those folders to split by data.split_seed."
            )
        if not any(p[0] == "train" for p in parts):
            raise DataError(f"{root} has val/ or test/ folders but no train/ folder of images. Fix: add train/.")
    inner = [p[1:] if by_split_folder else p for p in parts]
    in_class = [len(p) > 1 for p in inner]
    if any(in_class) and not all(in_class):
        loose = next(file.relative for file, labelled in zip(files, in_class) if not labelled)
        raise DataError(
            f"{in_class.count(False)} images under {root} lie outside class subfolders (e.g. {loose}) and "
            f"{in_class.count(True)} inside: labels come from the subfolders. Fix: put every image in a class "
            "subfolder, or none."
        )
    classes = tuple(sorted({p[0] for p in inner})) if all(in_class) else ()
    index = {name: i for i, name in enumerate(classes)}
    labels = tuple(index[p[0]] if classes else -1 for p in inner)
    splits = tuple(p[0] if by_split_folder else None for p in parts)
    return FolderLayout(classes, labels, splits)

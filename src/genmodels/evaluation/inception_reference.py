"""The real images' Inception statistics (mean and covariance of the pool3 features), computed once per dataset and
cached under ``<data_dir>/inception/`` with a JSON sidecar: the key (dataset, split, image count, selection,
preprocessing, network weights and path) and the sha256 of the statistics file, both checked on load."""

from __future__ import annotations

import hashlib
import io
import json
import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from genmodels.data.provision import check_writable
from genmodels.hashing import file_digest
from genmodels.metrics.frechet import gaussian_statistics
from genmodels.runs.atomic import write_atomic, write_json

log = logging.getLogger(__name__)

Statistics = tuple[torch.Tensor, torch.Tensor]  # mean (D,), covariance (D, D), float64


@dataclass(frozen=True)
class ReferenceKey:
    """Everything the statistics depend on; any change gets its own cache file."""

    dataset: str
    split: str  # test | train
    count: int
    selection: str  # which images of the split, e.g. "first" or "seeded permutation (seed 0)"
    preprocessing: str  # how the images reach the network (data resize, Inception resize and range)
    network: str  # the weights' sha1 and how the features are computed

    def paths(self, data_dir: str | Path) -> tuple[Path, Path]:
        """The statistics file and its JSON sidecar."""
        digest = hashlib.sha1(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()[:12]
        stem = Path(data_dir) / "inception" / f"{self.dataset}_{self.split}_{self.count}_{digest}"
        return stem.with_suffix(".pt"), stem.with_suffix(".json")


def load_statistics(data_dir: str | Path, key: ReferenceKey) -> tuple[Statistics | None, str]:
    """The cached statistics of ``key``, or (None, why they cannot be used)."""
    path, sidecar = key.paths(data_dir)
    if not path.exists() or not sidecar.exists():
        return None, f"no cached statistics at {path}"
    try:
        info = json.loads(sidecar.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        return None, f"unreadable sidecar {sidecar} ({exc})"
    if info.get("key") != asdict(key):
        return None, f"{sidecar} describes {info.get('key')}, not {asdict(key)}"
    actual = file_digest(path, "sha256")
    if info.get("sha256") != actual:
        return None, f"checksum mismatch for {path}: sha256 {actual}, sidecar says {info.get('sha256')}"
    stored = torch.load(path, map_location="cpu", weights_only=True)
    return (stored["mean"], stored["covariance"]), ""


def cached_statistics(
    data_dir: str | Path, key: ReferenceKey, features: Callable[[], torch.Tensor]
) -> tuple[Statistics, bool]:
    """The statistics of ``key`` from the cache, else of ``features()`` (N, D), then cached; and whether cached."""
    statistics, why = load_statistics(data_dir, key)
    if statistics is not None:
        return statistics, True
    path, sidecar = key.paths(data_dir)
    check_writable(path.parent, f"cache the Inception statistics of the {key.dataset} {key.split} images ({why})")
    if not why.startswith("no cached"):
        log.warning("Recomputing the Inception statistics of %s %s images: %s", key.dataset, key.split, why)
    values = features()
    if len(values) != key.count:
        raise ValueError(f"expected features of {key.count} images for {key}, got {len(values)}")
    mean, covariance = gaussian_statistics(values)
    buffer = io.BytesIO()
    torch.save({"mean": mean, "covariance": covariance}, buffer)
    write_atomic(path, buffer.getvalue())  # a unique temporary name: parallel evaluations never collide
    write_json(sidecar, {"key": asdict(key), "sha256": file_digest(path, "sha256")})
    return (mean, covariance), False

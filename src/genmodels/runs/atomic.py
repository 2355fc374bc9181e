"""Writing result files atomically: a file is either its old self or its complete new self, never half of one.

Every result (checkpoints, ``metrics.json``, ``eval.json``, ``failed.json``, ``.hydra/*.yaml``) is written to a
temporary file in the same folder, flushed to disk and renamed over the old one (a rename within one
filesystem is atomic). A failed write (a full disk, a read-only folder) removes the temporary file, leaves
the previous file as it was and raises ``RunFolderError`` naming the folder and the space needed.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import torch
from lightning.fabric.plugins.io import TorchCheckpointIO
from omegaconf import DictConfig, ListConfig, OmegaConf

from genmodels.errors import RunFolderError


def write_atomic(path: str | Path, data: bytes) -> Path:
    """Replace ``path`` by ``data`` atomically; on a write error raise ``RunFolderError``, the old file kept."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, partial = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".partial")
    except OSError as exc:
        raise _write_error(path, len(data), exc) from None
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(partial, path)
    except OSError as exc:
        Path(partial).unlink(missing_ok=True)
        raise _write_error(path, len(data), exc) from None
    return path


def _write_error(path: Path, size: int, exc: OSError) -> RunFolderError:
    folder = path.parent
    existing = next((p for p in (folder, *folder.parents) if p.exists()), folder)
    free = shutil.disk_usage(existing).free
    kept = f"the previous {path.name} is unchanged" if path.exists() else f"no {path.name} was written"
    return RunFolderError(
        f"cannot write {path.name} into {folder}: {exc.strerror or exc} ({size:,} bytes needed, {free:,} free); "
        f"{kept}. Fix: free space there (or make it writable), then run the same command again."
    )


def write_json(path: str | Path, payload: dict[str, Any]) -> Path:
    """Write ``payload`` as indented JSON, atomically (paths become strings)."""
    text = json.dumps(payload, indent=2, sort_keys=True, default=_json_default) + "\n"
    return write_atomic(path, text.encode())


def write_yaml(path: str | Path, config: DictConfig | ListConfig) -> Path:
    """Write an OmegaConf config as YAML, atomically."""
    return write_atomic(path, OmegaConf.to_yaml(config).encode())


def _json_default(value: Any) -> Any:
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


class AtomicCheckpointIO(TorchCheckpointIO):
    """Lightning's checkpoint writer with ``write_atomic``: a full disk never leaves a truncated checkpoint.

    Lightning's own writer stages the file through a temporary folder that may lie on another filesystem;
    the move then truncates the previous checkpoint before copying the new one in.
    """

    def save_checkpoint(self, checkpoint: dict[str, Any], path: Any, storage_options: Any | None = None) -> None:
        buffer = io.BytesIO()
        torch.save(checkpoint, buffer)
        write_atomic(path, buffer.getvalue())

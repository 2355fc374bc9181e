"""Atomic writes of result files: written to a temporary file in the same folder, flushed and renamed over the old
one, so a file is its old or its complete new self; a failed write raises ``RunFolderError`` naming the space needed.
"""

from __future__ import annotations

import io
import json
import os
import secrets
import shutil
from pathlib import Path
from typing import Any

import torch
from lightning.fabric.plugins.io import TorchCheckpointIO

from genmodels.errors import RunFolderError


def write_atomic(path: str | Path, data: bytes) -> Path:
    """Replace ``path`` by ``data`` atomically, readable as any new file is (the old file's mode, or the umask's,
    not a temporary file's 0600); on a write error raise ``RunFolderError``, the old file kept."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, partial = _open_partial(path)
    except OSError as exc:
        raise _write_error(path, len(data), exc) from None
    try:
        if path.exists():
            os.fchmod(handle, path.stat().st_mode & 0o777)
        with os.fdopen(handle, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(partial, path)
    except OSError as exc:
        partial.unlink(missing_ok=True)
        raise _write_error(path, len(data), exc) from None
    return path


def _open_partial(path: Path) -> tuple[int, Path]:
    """A new hidden temporary file beside ``path``, opened for writing with mode 0666 so that the kernel applies the
    process's umask, as to any new file."""
    partial = path.with_name(f".{path.name}.{secrets.token_hex(8)}.partial")
    return os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666), partial


def _write_error(path: Path, size: int, exc: OSError) -> RunFolderError:
    """The error of a failed write: the folder, the reason, the space needed and free, and the fix."""
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


def _json_default(value: Any) -> Any:
    """Paths as strings; anything else is not JSON."""
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


class AtomicCheckpointIO(TorchCheckpointIO):
    """Lightning's checkpoint writer with ``write_atomic``: a full disk never truncates the last good checkpoint
    (Lightning's own writer stages it in a temporary folder, maybe on another filesystem, and moves it over)."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path: Any, storage_options: Any | None = None) -> None:
        buffer = io.BytesIO()
        torch.save(checkpoint, buffer)
        write_atomic(path, buffer.getvalue())

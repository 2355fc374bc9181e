"""A resume's attempt on a run folder: the run changes only once the attempt has saved its first new checkpoint.

When the folder is claimed, its paths and the length of its logs are noted. Right after the first new ``last.ckpt``
(or the end of a fit that saves none) the attempt commits: the new definition is written and an earlier
``failed.json`` removed. An attempt that fails before that removes every file it created and cuts the logs back,
so the folder is byte for byte as it was, and records no failure there (the error is printed).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from pathlib import Path

import lightning as L
from lightning.pytorch.callbacks import Checkpoint


def _identity(path: Path) -> tuple[int, int] | None:
    """(inode, modification time) of ``path``, None if absent: an atomic rewrite gives a new inode."""
    try:
        stat = path.stat()
    except FileNotFoundError:
        return None
    return stat.st_ino, stat.st_mtime_ns


class ResumeAttempt(Checkpoint):
    """Commit a resumed run (``write_definition``, stale ``failed.json`` removed) after its first new checkpoint;
    ``undo`` what it wrote before that. A ``Checkpoint`` so that Lightning runs its epoch-end hooks after those of
    the checkpoint callbacks (it saves none itself)."""

    def __init__(self, folder: Path, write_definition: Callable[[], None]) -> None:
        self.folder, self.write_definition = folder, write_definition
        self.paths = set(folder.rglob("*"))
        self.log_sizes = {path: path.stat().st_size for path in folder.glob("*.log")}
        self.last_checkpoint = folder / "checkpoints" / "last.ckpt"
        self.last_identity = _identity(self.last_checkpoint)
        self.committed = False

    def commit(self) -> None:
        """Write the new definition and drop an earlier attempt's ``failed.json`` (once)."""
        if not self.committed:
            self.write_definition()
            (self.folder / "failed.json").unlink(missing_ok=True)
            self.committed = True

    def _commit_after_new_checkpoint(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.is_global_zero and _identity(self.last_checkpoint) != self.last_identity:
            self.commit()

    on_validation_end = on_train_epoch_end = _commit_after_new_checkpoint

    def on_fit_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.is_global_zero:  # every epoch trained (a run without a last.ckpt callback saves it after fit)
            self.commit()

    def undo(self) -> None:
        """Remove the files and folders created since the claim, children first, and cut the logs back."""
        for path in sorted(set(self.folder.rglob("*")) - self.paths, reverse=True):
            with contextlib.suppress(OSError):  # the cleanup never hides the error that caused it
                if path.is_dir() and not path.is_symlink():
                    path.rmdir()
                else:
                    path.unlink()
        for path, size in self.log_sizes.items():
            with contextlib.suppress(OSError):
                os.truncate(path, size)

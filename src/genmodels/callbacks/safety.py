"""Callbacks that keep a run safe: stop on non-finite losses, checkpoint on interruption."""

from __future__ import annotations

import logging
import shlex
import sys
from pathlib import Path

import lightning as L
import torch
from lightning.pytorch.utilities.exceptions import SIGTERMException

log = logging.getLogger(__name__)


class TrainingDiverged(RuntimeError):
    """A loss term became NaN or infinite; the message names the step, the terms and likely causes."""


class FiniteLossGuard(L.Callback):
    """Stop training as soon as a loss term returned by ``training_step`` is NaN or infinite.

    ``training_step`` returns a dict of loss tensors (``loss`` and its named terms); the check costs one
    host-device synchronisation every ``every_n_steps`` steps. The last checkpoint written at an epoch
    end is left untouched, so no result is lost.
    """

    def __init__(self, every_n_steps: int = 1, hints: str = "") -> None:
        self.every_n_steps = every_n_steps
        self.hints = hints
        self._step = 0

    def on_train_batch_start(self, trainer: L.Trainer, pl_module: L.LightningModule, batch, batch_idx: int) -> None:
        self._step = trainer.global_step  # the step whose loss on_train_batch_end sees

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs, batch, batch_idx):
        if not isinstance(outputs, dict) or batch_idx % self.every_n_steps:
            return
        terms = {k: v.detach() for k, v in outputs.items() if isinstance(v, torch.Tensor)}
        if not terms or bool(torch.stack([v.float().reshape(-1)[0] for v in terms.values()]).isfinite().all()):
            return
        bad = {k: float(v.float().reshape(-1)[0]) for k, v in terms.items() if not torch.isfinite(v).all()}
        last = Path(trainer.default_root_dir) / "checkpoints" / "last.ckpt"
        kept = f"The last good checkpoint is {last}." if last.exists() else "No epoch finished, so no checkpoint."
        raise TrainingDiverged(
            f"training diverged at step {self._step} (epoch {trainer.current_epoch + 1}, batch {batch_idx}): "
            f"non-finite {bad}. Likely causes: {self.hints or 'a learning rate too high'}. {kept}"
        )


class InterruptCheckpoint(L.Callback):
    """On Ctrl-C or SIGTERM, save ``checkpoints/interrupted.ckpt`` and print how to resume."""

    def __init__(self, dirpath: str) -> None:
        self.dirpath = Path(dirpath)

    def on_exception(self, trainer: L.Trainer, pl_module: L.LightningModule, exception: BaseException) -> None:
        if not isinstance(exception, (KeyboardInterrupt, SIGTERMException)):
            return
        path = self.dirpath / "interrupted.ckpt"
        trainer.save_checkpoint(path)
        if trainer.is_global_zero:
            run_dir = self.dirpath.parent
            args = " ".join(shlex.quote(a) for a in sys.argv[1:] if not a.startswith("resume="))
            log.warning(
                "Interrupted at epoch %d, step %d; checkpoint saved to %s.\nResume with: python -m genmodels.train %s "
                "resume=%s",
                trainer.current_epoch + 1,
                trainer.global_step,
                path,
                args,
                run_dir,
            )

"""Callbacks that keep a run safe: stop on non-finite losses, checkpoint on interruption."""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from pathlib import Path

import lightning as L
import torch
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.utilities.exceptions import SIGTERMException

from genmodels.contract import CapabilityError
from genmodels.errors import CheckpointError, ConfigError, TrainingDiverged
from genmodels.runs.checkpoints import load_checkpoint
from genmodels.runs.resume import resume_commands

log = logging.getLogger(__name__)


class FiniteLossGuard(L.Callback):
    """Stop training when a loss tensor returned by ``training_step`` becomes NaN or infinite.

    The terms are summed on their device (no sync per step) and checked every ``every_n_steps`` batches and at
    each epoch end, before its checkpoint is written, so the last checkpoint on disk is always finite.
    """

    def __init__(self, every_n_steps: int = 1, hints: str = "") -> None:
        if every_n_steps < 1:
            raise ConfigError(f"callbacks.finite_loss_guard.every_n_steps must be >= 1, got {every_n_steps}")
        self.every_n_steps = every_n_steps
        self.hints = hints
        self._sums: dict[str, torch.Tensor] = {}  # each term's sum over the window, whichever batches returned it
        self._first_step: int | None = None  # trainer.global_step at the start of the window's first batch
        self._step, self._batch_idx = 0, 0  # ... and of the latest batch

    def on_train_batch_start(self, trainer: L.Trainer, pl_module: L.LightningModule, batch, batch_idx: int) -> None:
        self._step, self._batch_idx = trainer.global_step, batch_idx
        if self._first_step is None:
            self._first_step = self._step

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs, batch, batch_idx):
        terms = (
            {k: v for k, v in outputs.items() if isinstance(v, torch.Tensor)} if isinstance(outputs, Mapping) else {}
        )
        if not terms:
            raise CapabilityError(
                f"the FiniteLossGuard callback watches the loss tensors training_step returns, and "
                f"{type(pl_module).__name__}.training_step returned none (outputs: {outputs!r}). "
                "Fix: return the loss, or a dict of loss tensors such as {'loss': loss, 'kl': kl}, from training_step "
                "(docs/adding_a_model.md), or run without the guard: ~callbacks.finite_loss_guard."
            )
        for name, value in terms.items():  # e.g. a GAN's g_loss only on its generator steps
            total = value.detach().float().sum()
            if name in self._sums:
                self._sums[name].add_(total)
            else:
                self._sums[name] = total
        if (batch_idx + 1) % self.every_n_steps == 0:
            self._check(trainer)

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._check(trainer)

    def _check(self, trainer: L.Trainer) -> None:
        """Raise if a term was non-finite since the last check; otherwise start a new window."""
        if self._sums and not bool(torch.stack(list(self._sums.values())).isfinite().all()):
            raise self._diverged(trainer)
        self._sums, self._first_step = {}, None

    def _diverged(self, trainer: L.Trainer) -> TrainingDiverged:
        """The error naming the step(s), the non-finite terms, likely causes and the checkpoint kept."""
        bad = [name for name, total in self._sums.items() if not math.isfinite(total.item())]
        first, last = self._first_step, self._step
        steps = (
            f"step {last}" if first == last else f"one of steps {first}..{last} (checked every {self.every_n_steps})"
        )
        checkpoint = Path(trainer.default_root_dir) / "checkpoints" / "last.ckpt"
        kept = f"The last good checkpoint is {checkpoint}." if checkpoint.exists() else "No epoch finished yet."
        return TrainingDiverged(
            f"training diverged at {steps} (epoch {trainer.current_epoch + 1}, batch {self._batch_idx}): "
            f"non-finite {', '.join(bad)}. Likely causes: {self.hints or 'a learning rate too high'}. {kept}"
        )


class InterruptCheckpoint(L.Callback):
    """On Ctrl-C or SIGTERM, save ``checkpoints/interrupted.ckpt`` (removed once a resumed run passes its step) and
    print how to resume."""

    def __init__(self, dirpath: str) -> None:
        self.dirpath = Path(dirpath)
        self.path = self.dirpath / "interrupted.ckpt"
        self._earlier_step: int | None = None  # the step of an interrupted.ckpt left by an earlier part

    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self.path.is_file():
            try:
                self._earlier_step = int(load_checkpoint(self.path).get("global_step", 0))
            except CheckpointError:  # e.g. cut short by a kill -9 while saving: nothing to keep
                self._earlier_step = 0

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        """Remove an earlier part's interrupted.ckpt once this run has passed its step and saved that epoch (a
        resume that fails before its first checkpoint leaves the folder as it was)."""
        if self._earlier_step is not None and trainer.global_step >= self._earlier_step and trainer.is_global_zero:
            self.path.unlink(missing_ok=True)
            log.info("Removed %s: this run has passed its step %d", self.path, self._earlier_step)
            self._earlier_step = None

    on_fit_end = on_train_epoch_start

    def on_exception(self, trainer: L.Trainer, pl_module: L.LightningModule, exception: BaseException) -> None:
        if not isinstance(exception, (KeyboardInterrupt, SIGTERMException)):
            return
        trainer.save_checkpoint(self.path, weights_only=False)  # the full state (optimizers, loops), to resume from
        if trainer.is_global_zero:
            single, *sweep = resume_commands(self.dirpath.parent)
            more = "".join(f"\nor continue the whole sweep (finished jobs are skipped): {c}" for c in sweep)
            log.warning(
                f"Interrupted at epoch {trainer.current_epoch + 1}, step {trainer.global_step}; checkpoint saved to "
                f"{self.path}.\nResume with: {single}{more}"
            )


class LastEpochCheckpoint(ModelCheckpoint):
    """``<dirpath>/last.ckpt`` after every epoch, whatever a monitored metric says (unlike ``save_last=True``)."""

    def __init__(self, dirpath: str | Path) -> None:
        super().__init__(dirpath=dirpath, filename="last", monitor=None, save_top_k=1, enable_version_counter=False)

"""Feedback on long runs: a progress bar that names the epoch as k/max_epochs, and a CPU cost estimate."""

from __future__ import annotations

import contextlib
import logging
import math
import time
from collections.abc import Callable

import lightning as L
from lightning.pytorch.callbacks import Timer, TQDMProgressBar

from genmodels.tables import format_duration

log = logging.getLogger(__name__)


class EpochProgressBar(TQDMProgressBar):
    """Lightning's tqdm bar showing ``Epoch k/max_epochs`` (1-based); the training bar is redrawn every
    ``refresh_rate`` batches or after ``refresh_seconds``, whichever comes first (slow batches still move it)."""

    def __init__(self, refresh_rate: int = 20, refresh_seconds: float = 2.0, process_position: int = 0) -> None:
        super().__init__(refresh_rate=refresh_rate, process_position=process_position)  # one bar, redrawn each epoch
        self.refresh_seconds = refresh_seconds
        self._drawn_at = time.monotonic()

    def on_train_epoch_start(self, trainer: L.Trainer, *_) -> None:
        # Lightning's version would first draw its own 0-based "Epoch k" (a line of its own in a log file)
        limit = f"/{trainer.max_epochs}" if (trainer.max_epochs or 0) > 0 else ""
        self.train_progress_bar.set_description(f"Epoch {trainer.current_epoch + 1}{limit}", refresh=False)
        total = self.total_train_batches
        self.train_progress_bar.reset(total=total if math.isfinite(total) else None)  # tqdm: None for unknown

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs, batch, batch_idx) -> None:
        """Redraw the bar with its metrics after ``refresh_rate`` batches, the last one, or ``refresh_seconds``."""
        bar, done, now = self.train_progress_bar, batch_idx + 1, time.monotonic()
        due = done % self.refresh_rate == 0 or done == bar.total or now - self._drawn_at >= self.refresh_seconds
        if self.is_enabled and due:
            self._drawn_at, bar.n = now, done
            bar.set_postfix(self.get_metrics(trainer, pl_module))  # redraws the bar

    def on_exception(self, trainer: L.Trainer, pl_module: L.LightningModule, exception: BaseException) -> None:
        """Close the open bars: the error printed next starts on a line of its own, and no bar is redrawn after it."""
        for stage in ("train", "val", "test", "predict"):
            with contextlib.suppress(TypeError):  # Lightning's property raises TypeError for a bar not opened
                getattr(self, f"{stage}_progress_bar").close()


class CostEstimate(L.Callback):
    """On a CPU, log once how long the training will take (and, past ``suggest_after_minutes``, how to shorten it),
    or when ``trainer.max_time`` stops it. The rate is measured after the first batch of an epoch, over at least
    ``min_batches`` batches and ``min_seconds`` (or ``max_batches``, or the whole epoch); ``clock`` gives seconds."""

    def __init__(
        self,
        min_batches: int = 3,
        min_seconds: float = 5.0,
        max_batches: int = 50,
        suggest_after_minutes: float = 10.0,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.min_batches, self.min_seconds, self.max_batches = min_batches, min_seconds, max_batches
        self.suggest_after_minutes, self.clock = suggest_after_minutes, clock
        self._started: float | None = None
        self._latest, self._measured, self._done = 0.0, 0, False

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        cpu = trainer.strategy.root_device.type == "cpu"
        limited = (trainer.max_epochs or 0) > 0
        self._done = not (cpu and limited and trainer.is_global_zero and not trainer.fast_dev_run)

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._started, self._measured = None, 0  # the time between epochs (validation, figures) is not counted

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs, batch, batch_idx):
        if self._done:
            return
        self._latest = self.clock()
        if self._started is None:
            self._started = self._latest
            return
        self._measured += 1
        elapsed = self._latest - self._started
        if self._measured >= self.max_batches or (self._measured >= self.min_batches and elapsed >= self.min_seconds):
            self._report(trainer, batches_done=batch_idx + 1)

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not self._done and self._measured:
            self._report(trainer, batches_done=trainer.num_training_batches)

    def _report(self, trainer: L.Trainer, batches_done: int) -> None:
        """Log the estimate for the batches left after ``batches_done`` batches of the current epoch."""
        self._done = True
        per_epoch = trainer.num_training_batches
        if not math.isfinite(per_epoch):
            return
        remaining = per_epoch * (trainer.max_epochs - trainer.current_epoch) - batches_done
        seconds_per_batch = (self._latest - self._started) / self._measured
        timers = [callback for callback in trainer.callbacks if isinstance(callback, Timer)]
        time_left = timers[0].time_remaining() if timers else None
        if time_left is not None and time_left < seconds_per_batch * remaining:
            epochs = trainer.current_epoch + (batches_done + time_left / seconds_per_batch) / per_epoch
            log.info(
                f"Training on the CPU: trainer.max_time stops the fit in {format_duration(time_left)}, after about "
                f"{epochs:,.0f} of {trainer.max_epochs:,} epochs ({1 / seconds_per_batch:.2f} batches/s, measured "
                "over the first batches; validation makes it a few epochs fewer)."
            )
            return
        image_size = getattr(trainer.datamodule, "image_size", None)
        message = cost_message(seconds_per_batch, remaining, image_size, self.suggest_after_minutes)
        (log.warning if "To shorten it" in message else log.info)(message)


def cost_message(
    seconds_per_batch: float, batches_left: int, image_size: int | None, suggest_after_minutes: float
) -> str:
    """One line: the estimated training time left, and (for long runs) how to shorten it."""
    seconds = seconds_per_batch * batches_left
    batches = f"{batches_left:,} batch" + ("es" if batches_left != 1 else "")
    message = (
        f"Training on the CPU: about {format_duration(seconds)} to go ({batches} at "
        f"{1 / seconds_per_batch:.2f} batches/s, measured over the first batches; validation adds a little)."
    )
    if seconds < suggest_after_minutes * 60:
        return message
    smaller = "data.image_size=32 (about 4x cheaper than 64), " if image_size == 64 else ""
    return (
        f"{message} To shorten it: {smaller}fewer epochs (trainer.max_epochs), part of each epoch "
        "(trainer.limit_train_batches=0.1), or the report's cpu preset (python -m genmodels.report --preset cpu); "
        "or use a GPU."
    )

"""The wall time and final metrics of fitting, carried in checkpoints so that a resumed run reports the whole run."""

from __future__ import annotations

import time
from typing import Any

import lightning as L

from genmodels.runs.info import scalar_metrics


class FitRecord(L.Callback):
    """Seconds spent fitting and the latest finished epoch's metrics, kept in checkpoints across resumed parts."""

    def __init__(self) -> None:
        self.seconds = 0.0  # time fitted: earlier parts (up to their checkpoint) and this one
        self.metrics: dict[str, float] = {}
        self._earlier_seconds = 0.0
        self._started: float | None = None
        self._trainer: L.Trainer | None = None

    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._trainer, self._started = trainer, time.perf_counter()

    def on_fit_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._update()

    def state_dict(self) -> dict[str, Any]:
        self._update()
        return {"seconds": self.seconds, "metrics": dict(self.metrics)}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self._earlier_seconds = self.seconds = float(state_dict["seconds"])
        self.metrics = dict(state_dict["metrics"])

    def _update(self) -> None:
        if self._started is None or self._trainer is None:
            return
        self.seconds = self._earlier_seconds + time.perf_counter() - self._started
        current = scalar_metrics(self._trainer.callback_metrics)
        if current:
            self.metrics = current

"""Learning curves drawn with matplotlib (report fig. 1: the -ELBO curve)."""

from __future__ import annotations

import json

import lightning as L
import matplotlib.pyplot as plt
from matplotlib.ticker import MaxNLocator

from genmodels.callbacks.base import FigureCallback
from genmodels.images import save_figure
from genmodels.runs.atomic import write_json


class MetricCurves(FigureCallback):
    """One panel per epoch-level metric, train and validation per epoch (``ylabels``: axis label per metric name);
    the history is kept in ``curves.json`` so that a resumed run continues the curves."""

    capability = None

    def __init__(self, output_dir: str, ylabels: dict[str, str] | None = None) -> None:
        super().__init__(output_dir)
        self.ylabels = dict(ylabels or {})
        self.history: dict[str, dict[str, float]] = {}
        self.history_path = self.output_dir / "curves.json"

    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self.history_path.exists():
            self.history = json.loads(self.history_path.read_text())

    # Models log their epoch means in their own on_train_epoch_end, which Lightning runs after the callbacks'
    # one: so an epoch is recorded when the next one starts, and the last one when fitting ends.
    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.current_epoch > 0:
            self.record(trainer, pl_module, trainer.current_epoch)

    def on_fit_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.record(trainer, pl_module, trainer.current_epoch)

    def record(self, trainer: L.Trainer, pl_module: L.LightningModule, epoch: int) -> None:
        """Store the epoch-level train/val metrics of ``epoch`` (1-based) and redraw the figure."""
        metrics = {
            key: float(value)
            for key, value in trainer.callback_metrics.items()
            if key.startswith(("train/", "val/")) and value.numel() == 1 and key != "train/loss"
        }
        if not trainer.is_global_zero or epoch < 1 or not any(k.startswith("train/") for k in metrics):
            return  # e.g. the first epoch start of a resumed run: nothing trained in this process yet
        self.history[str(epoch)] = metrics
        write_json(self.history_path, self.history)
        save_figure(self.figure(), self.output_dir / "curves.png")

    def figure(self) -> plt.Figure:
        """The curves drawn from the history so far."""
        names = sorted({key.split("/", 1)[1] for row in self.history.values() for key in row})
        figure, axes = plt.subplots(1, len(names), figsize=(4.2 * len(names), 3.4), squeeze=False)
        epochs = sorted(self.history, key=int)
        for axis, name in zip(axes[0], names):
            for stage in ("train", "val"):
                key = f"{stage}/{name}"
                points = [(int(e), self.history[e][key]) for e in epochs if key in self.history[e]]
                if points:
                    axis.plot(*zip(*points), marker="o", markersize=3, label=stage)
            axis.set(xlabel="epoch", ylabel=self.ylabels.get(name, name), title=name)
            axis.xaxis.set_major_locator(MaxNLocator(integer=True))
            axis.grid(alpha=0.3)
            axis.legend()
        figure.tight_layout()
        return figure

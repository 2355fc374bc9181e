"""Learning curves drawn with matplotlib (report fig. 1: the -ELBO curve)."""

from __future__ import annotations

import json

import lightning as L
import matplotlib.pyplot as plt
from matplotlib.ticker import MaxNLocator

from genmodels.callbacks.base import FigureCallback, figure_subject
from genmodels.images import save_figure
from genmodels.runs.atomic import write_json

PANELS_PER_ROW = 3
FLOOR_SUFFIX = "_floor"  # val/<metric>_floor: the score real images get, drawn in <metric>'s panel
# Panel titles of the metrics the models and callbacks log (name after "train/" or "val/"); others keep their name.
PANEL_TITLES = {
    "neg_elbo": "negative ELBO",
    "recon": "reconstruction NLL",
    "kl": "KL divergence to the prior",
    "neg_iwae_bound": "negative IWAE bound",
    "d_loss": "discriminator loss",
    "g_loss": "generator loss",
    "d_real": "D(x) on real images",
    "d_fake": "D(G(z)) on generated images",
    "fid_clf": "FID (MNIST classifier)",
    "is_clf": "Inception Score (MNIST classifier)",
}


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
        save_figure(self.figure(figure_subject(trainer, pl_module)), self.output_dir / "curves.png")

    def figure(self, subject: str = "") -> plt.Figure:
        """The curves drawn from the history so far, under ``subject`` (what the run is); a metric's ``*_floor``
        (its real-vs-real value) is drawn dashed in the metric's panel."""
        names = sorted({key.split("/", 1)[1] for row in self.history.values() for key in row})
        names = [name for name in names if not name.endswith(FLOOR_SUFFIX)]
        columns, rows = min(len(names), PANELS_PER_ROW), -(-len(names) // PANELS_PER_ROW)
        figure, axes = plt.subplots(rows, columns, figsize=(4.2 * columns, 0.4 + 3.2 * rows), squeeze=False)
        for axis in axes.flat[len(names) :]:
            axis.remove()
        epochs = sorted(self.history, key=int)
        for axis, name in zip(axes.flat, names):
            for stage, key, style in (
                ("train", f"train/{name}", "-"),
                ("validation", f"val/{name}", "-"),
                ("real-vs-real floor", f"val/{name}{FLOOR_SUFFIX}", "--"),
            ):
                points = [(int(e), self.history[e][key]) for e in epochs if key in self.history[e]]
                if points:
                    axis.plot(*zip(*points), linestyle=style, marker="o", markersize=3, label=stage)
            axis.set(xlabel="epoch", ylabel=self.ylabels.get(name, ""), title=PANEL_TITLES.get(name, name))
            axis.xaxis.set_major_locator(MaxNLocator(integer=True))
            axis.grid(alpha=0.3)
            axis.legend()
        figure.suptitle(subject)
        figure.tight_layout()
        return figure

"""The sample-quality callback scores a GAN during training and the checkpoint callback keeps its best epoch."""

import json
from pathlib import Path

import lightning as L
import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from genmodels.callbacks import SampleQualityMonitor
from genmodels.errors import ConfigError
from genmodels.train import train
from tests.helpers import QUICK_CLASSIFIER, SMALL_DCGAN, short_run

# A tiny DCGAN on a few batches, scored with a classifier trained in seconds (its own cache file).
TINY_GAN = [*SMALL_DCGAN, *short_run(1, 2)[1:], *QUICK_CLASSIFIER, "callbacks.sample_quality.num_samples=200"]
TINY_GAN += ["~callbacks.curves", "~callbacks.samples", "~callbacks.interpolation"]  # no figures


def test_tiny_gan_run_logs_scores_and_keeps_a_best_checkpoint(train_config):
    cfg = train_config([*TINY_GAN, "trainer.max_epochs=2"])
    metrics, objects = train(cfg)
    out = Path(objects["trainer"].default_root_dir)
    assert 0 < metrics["val/fid_clf"] < 1e4 and 1 <= metrics["val/is_clf"] <= 10
    summary = json.loads((out / "metrics.json").read_text())
    assert summary["metrics"]["val/fid_clf"] == pytest.approx(metrics["val/fid_clf"])
    assert len(list((out / "checkpoints").glob("best-epoch*.ckpt"))) == 1
    events = EventAccumulator(str(next((out / "tensorboard").rglob("events.out.tfevents.*")).parent))
    events.Reload()
    assert {"val/fid_clf", "val/is_clf"} <= set(events.Tags()["scalars"])
    assert len(events.Scalars("val/fid_clf")) == 2  # once per epoch


def test_checkpoint_keeps_the_epoch_with_the_lowest_fid(train_config, monkeypatch):
    """Fed scores 5, 8, 3, 3: a worse later epoch and a tie keep the best checkpoint, a better one replaces it."""
    fed, best_before = iter([5.0, 8.0, 3.0, 3.0]), []

    def score(self, pl_module):
        best_before.append(Path(pl_module.trainer.checkpoint_callback.best_model_path).name)
        return {"val/fid_clf": next(fed), "val/is_clf": 1.0}

    monkeypatch.setattr(SampleQualityMonitor, "score", score)
    cfg = train_config([*TINY_GAN, "trainer.max_epochs=4"])
    _, objects = train(cfg)
    best = list((Path(objects["trainer"].default_root_dir) / "checkpoints").glob("best-epoch*.ckpt"))
    assert best_before == ["", "best-epoch001.ckpt", "best-epoch001.ckpt", "best-epoch003.ckpt"]
    assert [path.name for path in best] == ["best-epoch003.ckpt"]
    assert objects["trainer"].checkpoint_callback.best_model_score.item() == 3.0


def test_scoring_every_n_epochs_includes_the_last(train_config, monkeypatch):
    scored = []
    monkeypatch.setattr(
        SampleQualityMonitor,
        "score",
        lambda self, pl_module: scored.append(pl_module.current_epoch + 1) or {"val/fid_clf": 1.0},
    )
    cfg = train_config([*TINY_GAN, "trainer.max_epochs=3", "callbacks.sample_quality.every_n_epochs=2"])
    train(cfg)
    assert scored == [2, 3]


def test_a_model_that_does_not_generate_is_refused_at_start():
    class Plain(L.LightningModule):
        pass

    with pytest.raises(ConfigError, match=r"(?s)SampleQualityMonitor.*Plain has no.*generate.*~callbacks.sample_qual"):
        SampleQualityMonitor().setup(trainer=None, pl_module=Plain(), stage="fit")

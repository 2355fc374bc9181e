"""Scoring a generator's samples while it trains (classifier FID and IS), so the best-looking epoch is kept."""

from __future__ import annotations

import itertools
import logging
import time
from typing import Any

import lightning as L
import torch

from genmodels.callbacks.base import fixed_noise
from genmodels.callbacks.curves import FLOOR_SUFFIX
from genmodels.classifier import ClassifierSettings, load_or_train_classifier
from genmodels.contract import GeneratesImages, require
from genmodels.data.datamodule import unit_images
from genmodels.errors import ConfigError
from genmodels.metrics.classifier import classifier_outputs
from genmodels.metrics.frechet import frechet_distance
from genmodels.metrics.sample_quality import conditional_accuracy, inception_score
from genmodels.runs.checkpoints import SAMPLE_QUALITY_MONITOR
from genmodels.sampling import class_labels, generate

log = logging.getLogger(__name__)


class SampleQualityMonitor(L.Callback):
    """Logs ``val/fid_clf`` (against the validation images) and ``val/is_clf`` of ``num_samples`` fixed-noise
    samples every ``every_n_epochs`` epochs and after the last, scored by the cached classifier (``classifier``:
    its ``ClassifierSettings``) on every rank, so each rank's checkpoint callback sees the same value; beside them
    ``val/fid_clf_floor``, the FID of as many training images (the score real images get). A conditional
    model's samples are of every class in turn (balanced labels), and ``val/cond_acc`` is logged too: the share of
    samples the classifier assigns to the class they were drawn for."""

    def __init__(
        self,
        num_samples: int = 2000,
        every_n_epochs: int = 1,
        seed: int = 0,
        batch_size: int = 500,
        classifier: dict[str, Any] | None = None,
    ) -> None:
        if num_samples < 1 or every_n_epochs < 1:
            raise ConfigError(
                "callbacks.sample_quality.num_samples and every_n_epochs must be positive integers, "
                f"got {num_samples} and {every_n_epochs}"
            )
        self.num_samples, self.every_n_epochs = num_samples, every_n_epochs
        self.seed, self.batch_size = seed, batch_size
        self.settings = ClassifierSettings(**(classifier or {}))
        self.seconds_spent = 0.0
        self._classifier: torch.nn.Module | None = None
        self._reference: torch.Tensor | None = None
        self.floor: float | None = None

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        if stage != "fit":
            return
        require(
            pl_module,
            GeneratesImages,
            "the SampleQualityMonitor callback",
            "leave it out with ~callbacks.sample_quality monitor.metric=null",
        )
        if trainer.fast_dev_run:
            log.info("Sample quality is not scored in a fast_dev_run (its checkpoints are off too)")
            return
        datamodule = trainer.datamodule
        data = datamodule.reference_data()
        if data.num_classes is None:
            raise ConfigError(
                "the SampleQualityMonitor callback scores samples with an evaluation classifier trained on the "
                f"data's labels, and {datamodule.dataset} has none (no class subfolders). Fix: leave it out with "
                "~callbacks.sample_quality monitor.metric=null (the last epoch is then the best checkpoint)."
            )
        self._classifier, info = load_or_train_classifier(data, self.settings)
        reference = unit_images(datamodule.splits["val"].images, datamodule.image_size)
        self._reference, _ = classifier_outputs(self._classifier, reference, self.batch_size)
        real = unit_images(datamodule.splits["train"].images[: self.num_samples], datamodule.image_size)
        self.floor = frechet_distance(classifier_outputs(self._classifier, real, self.batch_size)[0], self._reference)
        log.info(
            f"Sample quality: {self.num_samples} samples scored every {self.every_n_epochs} epoch(s) against "
            f"{len(reference)} validation images with the {datamodule.dataset} classifier (test accuracy "
            f"{100 * info['test_accuracy']:.2f}%); {len(real)} training images score FID {self.floor:.2f}"
        )

    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self._classifier is not None:
            self._classifier.to(pl_module.device)

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        epoch = trainer.current_epoch + 1
        if self._classifier is None or (epoch % self.every_n_epochs and epoch != trainer.max_epochs):
            return
        started = time.perf_counter()
        scores = self.score(pl_module)
        seconds = time.perf_counter() - started
        self.seconds_spent += seconds
        pl_module.log_dict(scores, prog_bar=True)
        shown = ", ".join(f"{key} {value:.4g}" for key, value in scores.items())
        log.info("Epoch %d: %s, scored in %.1f s", epoch, shown, seconds)
        pl_module.log(f"{SAMPLE_QUALITY_MONITOR}{FLOOR_SUFFIX}", self.floor)

    @torch.no_grad()
    def score(self, pl_module: L.LightningModule) -> dict[str, float]:
        """FID against the validation features, the Inception Score and (a conditional model) the conditional
        accuracy of this epoch's fixed-noise samples."""
        z = fixed_noise(self.num_samples, pl_module.latent_dim, self.seed, pl_module.device)
        labels = class_labels(pl_module, self.num_samples, None)  # balanced for a conditional model, else None
        label_chunks = itertools.repeat(None) if labels is None else labels.split(self.batch_size)
        chunks = zip(z.split(self.batch_size), label_chunks)
        samples = torch.cat([generate(pl_module, chunk, y).float() for chunk, y in chunks])
        features, probabilities = classifier_outputs(self._classifier, samples, self.batch_size)
        scores = {
            SAMPLE_QUALITY_MONITOR: frechet_distance(features, self._reference),
            "val/is_clf": inception_score(probabilities)[0],
        }
        if labels is not None:
            scores["val/cond_acc"] = conditional_accuracy(probabilities, labels)
        return scores

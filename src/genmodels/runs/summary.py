"""A run's summary, ``metrics.json``: what ``genmodels.train`` writes after the fit, and the evaluation
``genmodels.evaluate`` adds under ``"eval"``. Keys are only ever added, so every key is optional: a run folder of
an earlier version reads with the keys it has."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, TypedDict

from omegaconf import DictConfig, OmegaConf

from genmodels.runs.atomic import write_json

METRICS_FILE = "metrics.json"


class RunDescription(TypedDict, total=False):
    """What was trained or evaluated (in both parts of the summary)."""

    model: str  # the model's class name
    dataset: str
    image_size: int
    binarize: str  # none | dynamic | static
    binarization_note: str  # the targets the likelihood numbers belong to
    likelihood: str | None  # the pixel distribution of a model with a likelihood (Bernoulli, discretized logistic)
    device: str


class Evaluation(RunDescription, total=False):
    """``genmodels.evaluate``'s numbers, with how they were obtained."""

    latent_dim: int | None
    settings: dict[str, Any]  # the seed and every metrics.* option
    metrics: dict[str, float]  # e.g. test_iwae_nll, fid_classifier
    floors: dict[str, float]  # the real-vs-real score of each sample-quality metric
    skipped: dict[str, str]  # metric group -> why it was not computed
    details: dict[str, Any]
    timings_s: dict[str, float]
    run_dir: str
    checkpoint: str  # the checkpoint evaluated
    checkpoint_epoch: int
    checkpoint_global_step: int


class RunSummary(RunDescription, total=False):
    """``metrics.json``: the fit, its final metrics and, once evaluated, the evaluation."""

    latent: int | None  # the latent size the model uses
    seed: int
    epochs: int
    global_steps: int
    train_batches_per_epoch: int
    fit_wall_time_s: float  # summed over the parts of a resumed run
    seconds_per_epoch: float
    checkpoint: str  # checkpoints/last.ckpt
    resumed_from: str | None
    test_weights: str
    metrics: dict[str, float]  # train/*, val/* and test/* epoch means of the last epoch
    eval: Evaluation


def evaluation_settings(cfg: DictConfig) -> dict[str, Any]:
    """What an evaluation under the ``evaluate`` config ``cfg`` records as its ``settings``: the seed and the
    ``metrics`` options, resolved."""
    return {"seed": cfg.seed, **OmegaConf.to_container(cfg.metrics, resolve=True)}


def read_summary(run_dir: Path) -> RunSummary:
    """The run's summary; ``FileNotFoundError`` without one, ``ValueError`` for a file that is no JSON object."""
    summary = json.loads((Path(run_dir) / METRICS_FILE).read_bytes())
    if not isinstance(summary, dict):
        raise ValueError(f"{METRICS_FILE} holds a JSON {type(summary).__name__}, not an object")
    return summary


def write_summary(run_dir: Path, summary: RunSummary) -> None:
    """Replace the run's summary in one atomic write."""
    write_json(Path(run_dir) / METRICS_FILE, summary)

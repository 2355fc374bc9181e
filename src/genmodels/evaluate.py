"""Evaluation entry point: ``python -m genmodels.evaluate run_dir=<a training run's output folder>``.

Rebuilds the run's model and data from its ``.hydra/config.yaml``, loads the checkpoint's weights and computes the
likelihood (``HasLikelihood``: test -ELBO, IWAE) and sample-quality metrics (``GeneratesImages``: FID, IS, coverage,
precision/recall beside real-vs-real floors); writes the evaluation into the run's ``metrics.json`` under ``"eval"``
(one atomic write), logs it to TensorBoard and prints a table.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import hydra
import torch
from omegaconf import DictConfig, OmegaConf

from genmodels.contract import GeneratesImages, HasLikelihood, missing_members, require
from genmodels.errors import ConfigError, command_errors
from genmodels.evaluation import timed
from genmodels.evaluation.likelihood import evaluate_likelihood
from genmodels.evaluation.publish import publish, summary_to_extend
from genmodels.evaluation.sample_quality import evaluate_sample_quality
from genmodels.overrides import composition_errors
from genmodels.runs.folder import folder_lock
from genmodels.runs.info import targets_note
from genmodels.runs.loading import open_run, run_folder
from genmodels.runs.summary import Evaluation, evaluation_settings

log = logging.getLogger(__name__)

IN_TRAINING = "Fix: evaluate it once that run has ended (a resume or a training run holds the lock while it runs)."


def evaluate(cfg: DictConfig) -> Evaluation:
    """Evaluate one training run; returns the evaluation written to its ``metrics.json`` under ``"eval"``. The run's
    lock is held throughout, and nothing is written before every number is computed."""
    started = time.perf_counter()
    timings: dict[str, float] = {}
    folder, _ = run_folder(cfg.get("run_dir"), cfg.get("ckpt_path"))
    with folder_lock(folder, IN_TRAINING):
        summary = summary_to_extend(folder)  # a damaged metrics.json stops here, before hours of computing
        with timed(timings, "load"):
            run = open_run(
                folder,
                cfg.get("checkpoint", "auto"),
                cfg.device,
                cfg.get("ckpt_path"),
                cfg.get("allowed_targets") or (),
                cfg.get("trust_run_config"),
            )
            log.info("Evaluating %s (%s) on %s", folder, run.checkpoint.name, next(run.model.parameters()).device)
            if cfg.get("data_dir"):  # the data files, and a folder's decoded cache and classifier (paths.data_dir)
                OmegaConf.update(run.config, "paths.data_dir", str(cfg.data_dir), force_add=True)
                if "data_dir" in run.config.data:  # a folder's data config has none
                    run.config.data.data_dir = str(cfg.data_dir)
            datamodule = run.build_data()
            datamodule.setup()
        result = compute(cfg, run.model, datamodule, timings)
        result.update(
            run_dir=str(folder),
            checkpoint=str(run.checkpoint),
            checkpoint_epoch=run.epoch,
            checkpoint_global_step=run.global_step,
        )
        timings["total"] = time.perf_counter() - started
        timings.update({key: round(value, 2) for key, value in timings.items()})
        publish(folder, result, summary)
    return result


def compute(cfg: DictConfig, model: torch.nn.Module, datamodule: Any, timings: dict[str, float]) -> Evaluation:
    """The metrics ``cfg.metrics`` asks for (those the model offers), with what they describe and how they were
    obtained; ``timings`` gets the seconds of each part."""
    m = cfg.metrics
    device = next(model.parameters()).device
    skipped: dict[str, str] = {}
    run_likelihood = wanted(model, "likelihood", m.likelihood, HasLikelihood, skipped)
    run_sample_quality = wanted(model, "sample_quality", m.sample_quality, GeneratesImages, skipped)
    result: Evaluation = {
        "model": type(model).__name__,
        "dataset": datamodule.dataset,
        "image_size": datamodule.image_size,
        "latent_dim": getattr(model, "latent_dim", None),
        "binarize": datamodule.binarize,
        "binarization_note": targets_note(model, datamodule),
        "device": str(device),
        "settings": evaluation_settings(cfg),
        "metrics": {},
        "skipped": skipped,
        "floors": {},
        "details": {},
        "timings_s": timings,
    }
    if run_likelihood:
        likelihood = evaluate_likelihood(model, datamodule, m, cfg.seed, device, cfg.progress)
        result["metrics"].update(likelihood.metrics)
        result["details"]["likelihood"] = likelihood.details
        timings.update(likelihood.seconds)
    if run_sample_quality:
        quality = evaluate_sample_quality(model, datamodule, m, cfg.seed, device, cfg.progress)
        result["metrics"].update(quality.metrics)
        result["floors"].update(quality.floors)
        result["details"]["sample_quality"] = quality.details
        timings.update(quality.seconds)
    return result


def wanted(model: torch.nn.Module, key: str, setting: bool | str, capability: type, skipped: dict[str, str]) -> bool:
    """Whether to compute ``metrics.<key>``: ``true`` requires the capability, ``auto`` follows it (recording in
    ``skipped`` why a group is left out)."""
    if setting not in (True, False, "auto"):
        raise ConfigError(f"metrics.{key} must be auto, true or false, got {setting!r}")
    if setting is True:
        require(model, capability, f"metrics.{key}=true", f"set metrics.{key}=false (or auto)")
    if setting is False:
        return False
    if isinstance(model, capability):
        return True
    missing = ", ".join(missing_members(model, capability))
    skipped[key] = f"{type(model).__name__} does not offer {capability.__name__} (no {missing})"
    return False


@hydra.main(version_base="1.3", config_path="../../configs", config_name="evaluate")
def main(cfg: DictConfig) -> None:
    """Hydra entry point: a failure the user can fix ends in one line (exit 1), Ctrl-C in exit 130; results are
    written only once every number is computed, so an interrupted evaluation changes nothing."""
    with command_errors():
        evaluate(cfg)


if __name__ == "__main__":
    with composition_errors("evaluate"):
        main()

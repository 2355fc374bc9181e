"""Evaluation entry point: ``python -m genmodels.evaluate run_dir=<a training run's output folder>``.

Rebuilds the run's model and data from its ``.hydra/config.yaml``, loads the checkpoint's weights and computes the
likelihood (``HasLikelihood``: test -ELBO, IWAE) and sample-quality metrics (``GeneratesImages``: FID, IS, coverage,
precision/recall beside real-vs-real floors); writes ``eval.json``, merges it into ``metrics.json`` under ``"eval"``,
logs it to TensorBoard and prints a table.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import hydra
import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from genmodels.contract import GeneratesImages, HasLikelihood, missing_members, require
from genmodels.errors import CheckpointError, ConfigError, EvaluationError, command_errors
from genmodels.evaluation import timed
from genmodels.evaluation.likelihood import evaluate_likelihood
from genmodels.evaluation.publish import publish
from genmodels.evaluation.sample_quality import evaluate_sample_quality
from genmodels.models.objectives import with_objective
from genmodels.overrides import composition_errors
from genmodels.runs.checkpoints import check_same_model, checkpoint_file, load_checkpoint, run_checkpoint
from genmodels.runs.folder import read_run_config
from genmodels.runs.info import targets_note
from genmodels.runs.trust import check_run_targets

log = logging.getLogger(__name__)

# Model classes that moved into the models package; configs of older runs still name the old place.
MOVED_MODELS = {
    "genmodels.vae.VAE": "genmodels.models.vae.VAE",
}


def evaluate(cfg: DictConfig) -> dict[str, Any]:
    """Evaluate one training run; returns the contents written to ``eval.json``."""
    started = time.perf_counter()
    timings: dict[str, float] = {}
    run_dir, checkpoint = resolve_run(cfg.get("run_dir"), cfg.get("ckpt_path"), cfg.get("checkpoint", "auto"))
    device = pick_device(cfg.device)
    log.info("Evaluating %s (%s) on %s", run_dir, checkpoint.name, device)

    with timed(timings, "load"):
        config_file = run_dir / ".hydra" / "config.yaml"
        run_cfg = read_run_config(config_file)  # a ConfigError without a model, data or trainer section
        if "paths" in run_cfg:
            run_cfg.paths.output_dir = str(run_dir)
        run_cfg.model._target_ = MOVED_MODELS.get(run_cfg.model.get("_target_"), run_cfg.model.get("_target_"))
        run_cfg.model = with_objective(OmegaConf.to_container(run_cfg.model), "_target_")  # a GAN run of before
        check_run_targets(run_cfg, config_file, cfg.get("allowed_targets") or (), cfg.get("trust_run_config"))
        if cfg.get("data_dir"):
            run_cfg.data.data_dir = str(cfg.data_dir)
        datamodule = instantiate(run_cfg.data)
        datamodule.setup()
        model = instantiate(run_cfg.model, _convert_="all")  # plain lists, as train.py builds it
        state = load_checkpoint(checkpoint)
        try:
            check_same_model(state.get("hyper_parameters", {}), dict(model.hparams), str(checkpoint))
        except CheckpointError as exc:
            raise CheckpointError(f"{exc}\n(The model options come from {run_dir}/.hydra/config.yaml.)") from None
        model.load_state_dict(state["state_dict"])
        model = model.to(device).eval()

    m = cfg.metrics
    skipped: dict[str, str] = {}
    run_likelihood = wanted(model, "likelihood", m.likelihood, HasLikelihood, skipped)
    run_sample_quality = wanted(model, "sample_quality", m.sample_quality, GeneratesImages, skipped)
    result: dict[str, Any] = {
        "run_dir": str(run_dir),
        "checkpoint": str(checkpoint),
        "checkpoint_epoch": None if state.get("epoch") is None else state["epoch"] + 1,  # 1-based, as in the logs
        "checkpoint_global_step": state.get("global_step"),
        "model": type(model).__name__,
        "dataset": datamodule.dataset,
        "image_size": datamodule.image_size,
        "latent_dim": getattr(model, "latent_dim", None),
        "binarize": datamodule.binarize,
        "binarization_note": targets_note(model, datamodule),
        "device": str(device),
        "settings": {"seed": cfg.seed, **OmegaConf.to_container(m, resolve=True)},
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

    timings["total"] = time.perf_counter() - started
    timings.update({key: round(value, 2) for key, value in timings.items()})
    publish(run_dir, result)
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


def resolve_run(run_dir: str | None, ckpt_path: str | None, choice: str = "auto") -> tuple[Path, Path]:
    """The run folder and the checkpoint file (``ckpt_path``, else the run's ``choice``), both checked to exist; a
    sweep folder is refused, naming its jobs."""
    if not run_dir and not ckpt_path:
        raise EvaluationError(
            "nothing to evaluate.\nFix: pass run_dir=<a training run's output folder> "
            "(e.g. outputs/train/runs/<date>) or ckpt_path=<its checkpoints/last.ckpt>."
        )
    if ckpt_path:
        checkpoint = checkpoint_file(ckpt_path)  # a .ckpt file, or a run folder's last.ckpt
        run = Path(run_dir).expanduser() if run_dir else checkpoint.resolve().parent.parent
    else:
        run = Path(run_dir).expanduser()
        jobs = sorted(config.parent.parent for config in run.glob("*/.hydra/config.yaml"))
        if jobs and not (run / ".hydra" / "config.yaml").is_file():  # a sweep folder: its jobs are the runs
            listed = "\n".join(f"  {job}" for job in jobs)
            raise EvaluationError(
                f"{run} is a sweep folder; each of its {len(jobs)} jobs is a run of its own:\n{listed}\n"
                f"Fix: pass run_dir=<one of them>, or compare them all with python -m genmodels.compare {run}."
            )
        checkpoint = run_checkpoint(run, choice)
    if not run.is_dir():
        raise EvaluationError(
            f"run folder {run} does not exist.\nFix: pass run_dir=<the output folder a training run printed "
            "('Run folder: ...'), e.g. outputs/train/runs/<date>>."
        )
    if not checkpoint.is_file():
        raise EvaluationError(
            f"checkpoint {checkpoint} does not exist.\n"
            f"Fix: finish (or resume) the training run in {run}, or pass ckpt_path=<another .ckpt of it>."
        )
    config = run / ".hydra" / "config.yaml"
    if not config.is_file():
        raise EvaluationError(
            f"run config {config} does not exist, so the model cannot be rebuilt.\n"
            "Fix: pass run_dir=<a folder written by `python -m genmodels.train`> (it holds .hydra/config.yaml), "
            "or, with ckpt_path, add run_dir=<the run folder of that checkpoint>."
        )
    return run, checkpoint


def pick_device(name: str) -> torch.device:
    """``auto`` -> cuda when available, else cpu; anything else as given."""
    return torch.device(("cuda" if torch.cuda.is_available() else "cpu") if name == "auto" else name)


@hydra.main(version_base="1.3", config_path="../../configs", config_name="evaluate")
def main(cfg: DictConfig) -> None:
    """Hydra entry point: a failure the user can fix ends in one line (exit 1), Ctrl-C in exit 130; results are
    written only once every number is computed, so an interrupted evaluation changes nothing."""
    with command_errors():
        evaluate(cfg)


if __name__ == "__main__":
    with composition_errors("evaluate"):
        main()

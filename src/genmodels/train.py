"""Training entry point: ``python -m genmodels.train model=vae latent=2`` (Hydra overrides)."""

from __future__ import annotations

import logging
import warnings
from pathlib import Path
from typing import Any

import hydra
import lightning as L
import torch
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from hydra.utils import instantiate
from lightning.pytorch.callbacks import ProgressBar
from lightning.pytorch.strategies.launchers import _SubprocessScriptLauncher
from lightning.pytorch.utilities.model_helpers import is_overridden
from omegaconf import DictConfig, OmegaConf, open_dict

from genmodels.callbacks import FitRecord
from genmodels.errors import ConfigError, command_errors, short_message
from genmodels.models.conditioning import check_data_classes
from genmodels.models.optimization import optimizer_config
from genmodels.overrides import composition_errors
from genmodels.runs.atomic import AtomicCheckpointIO
from genmodels.runs.checkpoints import check_same_model, checkpoint_file, load_checkpoint, resume_checkpoint
from genmodels.runs.folder import claim_run_folder, finished_metric, remove_unused_folder
from genmodels.runs.info import (
    device_description,
    likelihood_note,
    log_hparams_with_metrics,
    scalar_metrics,
    targets_note,
)
from genmodels.runs.summary import RunSummary, write_summary
from genmodels.schema import validate_train_config
from genmodels.speed import apply_speed_options, check_speed_options
from genmodels.target_options import build

log = logging.getLogger(__name__)


def train(cfg: DictConfig, extra_callbacks: tuple[L.Callback, ...] = ()) -> tuple[dict[str, float], dict[str, Any]]:
    """Fit the configured model, test it and write the run's ``metrics.json``; with ``cfg.resume`` (a run folder,
    ``cfg`` its config) continue from its last finished epoch. Returns the metrics and the objects built."""
    silence_library_noise()
    validate_train_config(cfg)
    check_speed_options(cfg.speed)
    ckpt_path = resume_checkpoint(cfg.resume) if cfg.get("resume") else None  # its last finished epoch
    if ckpt_path is None and cfg.get("ckpt_path"):  # where a new run starts (or a resumed one with no epoch done)
        ckpt_path = checkpoint_file(cfg.ckpt_path)
    if cfg.get("resume"):
        with open_dict(cfg):
            cfg.paths.output_dir = str(Path(cfg.resume))
    output_dir = Path(cfg.paths.output_dir)
    log.info("Run folder: %s (data: %s)", output_dir.resolve(), Path(cfg.paths.data_dir).resolve())
    L.seed_everything(cfg.seed, workers=True)

    datamodule: L.LightningDataModule = build(cfg.data)
    model: L.LightningModule = build(cfg.model, "model")  # its options checked: a sweep job skips check_buildable
    check_data_classes(model, datamodule)  # a conditional model needs the data's classes
    if ckpt_path:  # refuse a checkpoint of another model configuration
        check_same_model(load_checkpoint(ckpt_path).get("hyper_parameters", {}), dict(model.hparams), str(ckpt_path))
    apply_speed_options(model, cfg.speed)
    record = FitRecord()  # fit time and final metrics, summed over the parts of a resumed run
    callbacks = [*instantiate_all(cfg.get("callbacks")), record, *extra_callbacks]
    if not cfg.trainer.get("enable_progress_bar", True):  # the switch wins over callbacks.progress_bar
        callbacks = [callback for callback in callbacks if not isinstance(callback, ProgressBar)]
    loggers = instantiate_all(cfg.get("logger"))
    # Checkpoints are replaced atomically in their own folder: a full disk never truncates the last good one.
    trainer: L.Trainer = instantiate(
        cfg.trainer, callbacks=callbacks, logger=loggers or False, plugins=[AtomicCheckpointIO()]
    )
    check_ddp_fits_sweep(trainer)

    trainer.fit(model, datamodule=datamodule, ckpt_path=ckpt_path, weights_only=True)
    last_checkpoint = output_dir / "checkpoints" / "last.ckpt"
    # e.g. fast_dev_run, which turns checkpointing off. Rank zero decides: saving is collective under DDP.
    if not trainer.strategy.broadcast(last_checkpoint.exists()):
        trainer.save_checkpoint(last_checkpoint, weights_only=False)  # the full state, to resume from
    fit_metrics, fit_seconds = record.metrics, record.seconds

    run_test = cfg.get("test", True) and is_overridden("test_step", model)  # a GAN has no test_step
    test_metrics = scalar_metrics(trainer.test(model, datamodule=datamodule)[0]) if run_test else {}
    metrics = {**fit_metrics, **test_metrics}
    epochs = trainer.current_epoch
    summary: RunSummary = {
        "model": type(model).__name__,
        "dataset": datamodule.dataset,
        "binarize": datamodule.binarize,
        "binarization_note": targets_note(model, datamodule),
        "likelihood": likelihood_note(model),
        "image_size": datamodule.image_size,
        "latent": getattr(model, "latent_dim", None),  # the size the model uses (model.latent_dim)
        "seed": cfg.seed,
        "epochs": epochs,
        "global_steps": trainer.global_step,
        "train_batches_per_epoch": trainer.num_training_batches,
        "fit_wall_time_s": round(fit_seconds, 3),
        "seconds_per_epoch": round(fit_seconds / max(epochs, 1), 3),
        "device": device_description(trainer),
        "checkpoint": str(last_checkpoint),
        "resumed_from": str(ckpt_path) if ckpt_path else None,
        "test_weights": "final epoch",
        "metrics": metrics,
    }
    if trainer.is_global_zero:
        write_summary(output_dir, summary)
        log_hparams_with_metrics(trainer, cfg, metrics, latent=summary["latent"])
    log.info("Run folder: %s", output_dir)
    return metrics, {"datamodule": datamodule, "model": model, "trainer": trainer, "summary": summary}


def check_ddp_fits_sweep(trainer: L.Trainer) -> None:
    """Refuse, in a sweep, a DDP strategy that starts its other ranks by re-running the command line (the whole
    sweep); ranks started inside the job (``ddp_spawn``) or by the cluster (SLURM) share the job's config."""
    launcher = trainer.strategy.launcher
    if (
        isinstance(launcher, _SubprocessScriptLauncher)
        and launcher.num_processes > 1
        and not launcher.cluster_environment.creates_processes_externally
        and HydraConfig.initialized()
        and HydraConfig.get().mode == RunMode.MULTIRUN
    ):
        raise ConfigError(
            f"DDP with {launcher.num_processes} processes per node (trainer.strategy=ddp) cannot run in a sweep "
            "(-m): Lightning would start its other ranks by re-running the command line, i.e. the whole sweep. "
            "In a sweep, run one device per job with the jobs side by side (hydra/launcher=joblib), or one SLURM "
            "task per rank (hydra/launcher=slurm with hydra.launcher.tasks_per_node=<trainer.devices>), or start "
            "the ranks inside the job (trainer.strategy=ddp_spawn)."
        )


def instantiate_all(group: DictConfig | None) -> list[Any]:
    """Instantiate every entry of a config group (callbacks, logger) that has a ``_target_``; others are skipped."""
    entries = group.values() if group else []
    return [instantiate(entry) for entry in entries if isinstance(entry, DictConfig) and "_target_" in entry]


def _not_an_advert(record: logging.LogRecord) -> bool:
    """Whether a log record is not Lightning's advert for its cloud logger."""
    return "litlogger" not in record.getMessage()


def silence_library_noise() -> None:
    """Drop Lightning's (2.6) cloud-logger advert, its use of a deprecated PyTorch API, and its advice for epochs
    shorter than ``log_every_n_steps`` (every model here logs epoch means): none asks anything of us."""
    for name in ("lightning.pytorch.utilities.rank_zero", "lightning.fabric.utilities.rank_zero"):
        logger = logging.getLogger(name)
        if _not_an_advert not in logger.filters:
            logger.addFilter(_not_an_advert)
    leaf_spec = r"`isinstance\(treespec, LeafSpec\)` is deprecated"
    warnings.filterwarnings("ignore", message=leaf_spec, category=FutureWarning)
    warnings.filterwarnings("ignore", message=r"The number of training batches \(\d+\) is smaller than the logging")


def check_buildable(cfg: DictConfig) -> None:
    """Build the data module and the model (their options checked against the signatures, then by their
    constructors), and the optimizer and schedule
    on a stand-in parameter (PyTorch checks e.g. the learning rate there): nothing is loaded or written, so a new
    run refused for an option leaves no folder behind."""
    build(cfg.data)
    build(cfg.model, "model")
    optimizer, scheduler = (OmegaConf.select(cfg, f"model.{key}") for key in ("optimizer", "scheduler"))
    try:
        optimizer_config(
            [torch.nn.Parameter(torch.zeros(1))],
            build(optimizer) if optimizer else None,
            build(scheduler) if scheduler else None,
        )
    except ValueError as exc:  # e.g. "Invalid learning rate: -1" from torch.optim
        raise ConfigError(
            f"model.optimizer / model.scheduler: PyTorch refuses these options ({exc}). Fix: pass a valid value, "
            "e.g. model.optimizer.lr=1e-3 (configs/model/, configs/lr_scheduler/)."
        ) from None


@hydra.main(version_base="1.3", config_path="../../configs", config_name="train")
def main(cfg: DictConfig) -> float | None:
    """Hydra entry point: claim the run folder, train, return the monitored metric for sweepers. A failed run
    stops with one message; a failed sweep job is logged (and its ``failed.json`` written) and the sweep goes on."""
    with command_errors():  # one line and exit 1 for a GenmodelsError (Hydra would print its own report)
        sweeping, metric = HydraConfig.get().mode == RunMode.MULTIRUN, OmegaConf.select(cfg, "monitor.metric")
        # Checks that need no folder: a refused new run leaves none behind (a sweep job records its failure there).
        if not cfg.get("resume") and not sweeping:
            with remove_unused_folder(Path(HydraConfig.get().runtime.output_dir)):
                validate_train_config(cfg)
                check_speed_options(cfg.speed)
                check_buildable(cfg)
        try:
            with claim_run_folder(cfg) as run:
                if run.finished:
                    return finished_metric(run.folder, metric)
                metrics, _ = train(run.config, (run.pending,) if run.pending else ())
        except (Exception, SystemExit) as exc:
            if not sweeping or isinstance(exc, SystemExit):  # SystemExit: Ctrl-C or SIGTERM end the sweep too
                raise
            log.error("Job failed (the sweep goes on): %s: %s", type(exc).__name__, short_message(exc))
            return None
        return metrics.get(metric) if metric else None


if __name__ == "__main__":
    with composition_errors("train"):
        main()

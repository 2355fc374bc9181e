"""Training entry point: ``python -m genmodels.train model=vae latent=2`` (Hydra overrides).

``train(cfg)`` reads top to bottom: seed, data, model, callbacks, loggers, trainer, fit, test,
then the run's metrics.json. ``main`` is the thin Hydra wrapper around it.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import hydra
import lightning as L
from hydra.core.hydra_config import HydraConfig
from hydra.utils import instantiate
from lightning.pytorch.utilities.model_helpers import is_overridden
from omegaconf import DictConfig, OmegaConf

from genmodels.instantiators import instantiate_all
from genmodels.run_info import device_description, log_hparams_with_metrics, scalar_metrics, write_json

log = logging.getLogger(__name__)


def train(cfg: DictConfig) -> tuple[dict[str, float], dict[str, Any]]:
    """Fit the configured model, test it, and write ``metrics.json`` into the run's output folder.

    Returns the final metrics and the objects built (datamodule, model, trainer) for callers and tests.
    """
    output_dir = Path(cfg.paths.output_dir)
    L.seed_everything(cfg.seed, workers=True)

    datamodule: L.LightningDataModule = instantiate(cfg.data)
    model: L.LightningModule = instantiate(cfg.model)
    callbacks = instantiate_all(cfg.get("callbacks"))
    loggers = instantiate_all(cfg.get("logger"))
    trainer: L.Trainer = instantiate(cfg.trainer, callbacks=callbacks, logger=loggers or False)

    started = time.perf_counter()
    trainer.fit(model, datamodule=datamodule, ckpt_path=cfg.get("ckpt_path"))
    fit_seconds = time.perf_counter() - started
    last_checkpoint = output_dir / "checkpoints" / "last.ckpt"
    if not last_checkpoint.exists():  # e.g. fast_dev_run, which turns checkpointing off
        trainer.save_checkpoint(last_checkpoint)
    fit_metrics = scalar_metrics(trainer.callback_metrics)

    run_test = cfg.get("test", True) and is_overridden("test_step", model)  # a GAN has no test_step
    test_metrics = scalar_metrics(trainer.test(model, datamodule=datamodule)[0]) if run_test else {}
    metrics = {**fit_metrics, **test_metrics}
    epochs = trainer.current_epoch
    summary = {
        "model": type(model).__name__,
        "dataset": datamodule.dataset,
        "binarize": datamodule.binarize,
        "binarization_note": datamodule.binarization_note,
        "image_size": datamodule.image_size,
        "latent": cfg.get("latent"),
        "seed": cfg.seed,
        "epochs": epochs,
        "global_steps": trainer.global_step,
        "fit_wall_time_s": round(fit_seconds, 3),
        "seconds_per_epoch": round(fit_seconds / max(epochs, 1), 3),
        "device": device_description(trainer),
        "checkpoint": str(last_checkpoint),
        "test_weights": "final epoch",
        "metrics": metrics,
    }
    if trainer.is_global_zero:
        write_json(output_dir / "metrics.json", summary)
        log_hparams_with_metrics(trainer, cfg, metrics)
    log.info("Run folder: %s", output_dir)
    return metrics, {"datamodule": datamodule, "model": model, "trainer": trainer, "summary": summary}


@hydra.main(version_base="1.3", config_path="../../configs", config_name="train")
def main(cfg: DictConfig) -> float | None:
    """Hydra entry point; returns the monitored metric for sweepers (Optuna)."""
    metrics, _ = train(cfg)
    metric = OmegaConf.select(cfg, "monitor.metric")
    log.info("Finished in %s", HydraConfig.get().runtime.output_dir)
    return metrics.get(metric) if metric else None


if __name__ == "__main__":
    main()

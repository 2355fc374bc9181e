"""Continuing an interrupted run in its own folder: ``python -m genmodels.train ... resume=<run dir>``."""

from __future__ import annotations

from pathlib import Path

import lightning as L

from genmodels.checkpoints import CheckpointError, check_same_model, load_checkpoint


def resume_checkpoint(run_dir: str | Path) -> Path:
    """The checkpoint to continue ``run_dir`` from.

    The end-of-epoch ``last.ckpt`` is preferred, because continuing from an epoch boundary reproduces an
    uninterrupted run exactly; ``interrupted.ckpt`` (saved mid-epoch on Ctrl-C/SIGTERM) is the fallback
    when no epoch had finished.
    """
    folder = Path(run_dir) / "checkpoints"
    for name in ("last.ckpt", "interrupted.ckpt"):
        if (folder / name).is_file():
            return folder / name
    raise CheckpointError(
        f"{folder} holds no last.ckpt or interrupted.ckpt: nothing to resume from; "
        "pass resume=<the folder of a run that has checkpoints>, or start afresh without it"
    )


def check_checkpoint_fits(ckpt_path: str | Path, model: L.LightningModule) -> None:
    """Refuse a checkpoint whose saved model hyper-parameters differ from ``model``'s, naming both."""
    saved = load_checkpoint(ckpt_path).get("hyper_parameters", {})
    check_same_model(saved, dict(model.hparams), source=str(ckpt_path))

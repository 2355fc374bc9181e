"""Loading checkpoints safely and checking that they belong to the configured model."""

from __future__ import annotations

import pickle
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch


class CheckpointError(RuntimeError):
    """A checkpoint is missing, unsafe to load, or belongs to another model configuration."""


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Load a checkpoint on the CPU with weights-only unpickling (no code in the file can run)."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist; pass the path of a .ckpt file or a run folder")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError) as exc:
        raise CheckpointError(
            f"{path} was refused: weights-only loading accepts tensors and plain data, and this file holds "
            f"something else (a crafted or corrupted file, or one from another program). Load only checkpoints "
            f"written by genmodels. Details: {str(exc).splitlines()[0]}"
        ) from exc


# Model options that say how a model is trained, not what it is: a checkpoint may continue or be evaluated
# under other values (e.g. a run trained with the ELBO, iwae_k = 1, continued with the IWAE bound).
TRAINING_OPTIONS = ("optimizer", "scheduler", "iwae_k")


def check_same_model(saved: Mapping[str, Any], current: Mapping[str, Any], source: str) -> None:
    """Raise ``CheckpointError`` naming both configs when two model configs differ (``TRAINING_OPTIONS`` aside)."""

    def essential(config: Mapping[str, Any]) -> dict[str, Any]:
        return {key: value for key, value in dict(config).items() if key not in TRAINING_OPTIONS}

    if essential(saved) != essential(current):
        differing = sorted(
            key
            for key in set(essential(saved)) | set(essential(current))
            if essential(saved).get(key) != essential(current).get(key)
        )
        raise CheckpointError(
            f"the checkpoint of {source} was made by another model configuration (differs in {differing}).\n"
            f"  checkpoint: {essential(saved)}\n  this run:   {essential(current)}\n"
            f"Use the same model options as that run (e.g. model=..., latent=...), or start a new run."
        )

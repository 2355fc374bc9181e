"""Loading checkpoints safely and checking that they belong to the configured model."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch


class CheckpointError(RuntimeError):
    """A checkpoint is missing, unsafe to load, or belongs to another model configuration."""


def checkpoint_file(path: str | Path) -> Path:
    """The checkpoint file ``path`` names: a ``.ckpt`` file, or a run folder (its ``checkpoints/last.ckpt``)."""
    path = Path(path).expanduser()
    if path.is_dir():
        for candidate in (path / "checkpoints" / "last.ckpt", path / "last.ckpt"):
            if candidate.is_file():
                return candidate
        raise CheckpointError(
            f"{path} is a folder without checkpoints/last.ckpt. Fix: pass a checkpoint file, e.g. "
            f"ckpt_path=<run folder>/checkpoints/<name>.ckpt, or the folder of a run that finished an epoch."
        )
    if not path.is_file():
        raise CheckpointError(
            f"checkpoint {path} does not exist. Fix: pass the path of a .ckpt file or of a run folder "
            "(its checkpoints/last.ckpt is used)."
        )
    return path


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Load a checkpoint on the CPU with weights-only unpickling (no code in the file can run)."""
    path = checkpoint_file(path)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except OSError as exc:
        raise CheckpointError(
            f"cannot read checkpoint {path}: {exc.strerror or exc}. Fix: check the path and its permissions."
        ) from exc
    except Exception as exc:  # any parse failure: the file is not a checkpoint
        raise CheckpointError(
            f"{path} is not a checkpoint genmodels can load: weights-only loading accepts tensors and plain data, "
            f"and this file holds something else (a crafted, corrupted or unrelated file). Fix: pass a checkpoint "
            f"written by genmodels (<run>/checkpoints/last.ckpt). Details: {type(exc).__name__}: "
            f"{(str(exc).splitlines() or [''])[0]}"
        ) from exc
    if not isinstance(state, dict):
        raise CheckpointError(
            f"{path} holds a {type(state).__name__}, not a checkpoint. Fix: pass a .ckpt file written by genmodels."
        )
    return state


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

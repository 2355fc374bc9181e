"""A run's checkpoints: which file to use, loading it safely (weights only), checking it fits the model."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from genmodels.errors import CheckpointError
from genmodels.runs.legacy import upgrade_hparams


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


# The metric by which a run chose its best epoch from its samples (callbacks.SampleQualityMonitor, a GAN).
SAMPLE_QUALITY_MONITOR = "val/fid_clf"
CHECKPOINT_CHOICES = ("auto", "best", "last")


def run_checkpoint(run: Path, choice: str = "auto", monitor: str | None = None) -> Path:
    """The checkpoint of a run folder to evaluate: ``last.ckpt``, the ``best-*.ckpt`` its checkpoint callback kept,
    or (``auto``) the best for a run that chose it by sample quality (its ``monitor`` metric: a GAN), else the last."""
    if choice not in CHECKPOINT_CHOICES:
        raise CheckpointError(f"checkpoint must be one of {list(CHECKPOINT_CHOICES)}, got {choice!r}")
    folder = run / "checkpoints"
    best = sorted(folder.glob("best-*.ckpt"))
    if choice == "auto":
        choice = "best" if best and monitor == SAMPLE_QUALITY_MONITOR else "last"
    if choice == "last":
        return folder / "last.ckpt"
    if not best:
        raise CheckpointError(
            f"{folder} holds no best-*.ckpt (the run monitored no metric, or ended before its first score). "
            "Fix: pass checkpoint=last, or ckpt_path=<a .ckpt file>."
        )
    return best[-1]


def resume_checkpoint(run_dir: str | Path) -> Path | None:
    """The end-of-epoch ``last.ckpt`` of ``run_dir``, or None when no epoch had finished (start again)."""
    path = Path(run_dir) / "checkpoints" / "last.ckpt"
    return path if path.is_file() else None


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
    if not isinstance(state, dict) or "state_dict" not in state:
        raise CheckpointError(
            f"{path} holds a {type(state).__name__} without a 'state_dict', not a Lightning checkpoint. "
            "Fix: pass a .ckpt file written by genmodels."
        )
    damage = _damage(state)
    if damage:
        raise CheckpointError(
            f"{path} is not a checkpoint genmodels can load: {damage} (a crafted, corrupted or unrelated file). "
            "Fix: pass a checkpoint written by genmodels (<run>/checkpoints/last.ckpt), or restore it from a copy."
        )
    return state


def _damage(state: dict[str, Any]) -> str | None:
    """What of the parts genmodels reads of a checkpoint (weights, model options, counters) has the wrong shape;
    None when nothing."""
    weights, options = state["state_dict"], state.get("hyper_parameters", {})
    if not isinstance(weights, dict) or not all(
        isinstance(name, str) and isinstance(value, torch.Tensor) for name, value in weights.items()
    ):
        return "its state_dict is not a mapping of parameter names to tensors"
    if not isinstance(options, dict) or not all(isinstance(name, str) for name in options):
        return "its hyper_parameters is not a mapping of model options"
    for key in ("epoch", "global_step"):
        if key in state and not _count(state[key]):
            return f"its {key} is {state[key]!r}, not a count"
    if "loops" in state:  # what a resume reads: the epochs finished
        progress = state["loops"]
        for key in ("fit_loop", "epoch_progress", "current", "processed"):
            progress = progress.get(key) if isinstance(progress, dict) else None
        if not _count(progress):
            return "its loops do not count the epochs it finished (loops.fit_loop.epoch_progress.current.processed)"
    return _callback_damage(state.get("callbacks", {}))


# The paths a ModelCheckpoint keeps in its state; Lightning deletes those that fall out of its top k.
CALLBACK_PATHS = ("dirpath", "best_model_path", "kth_best_model_path", "last_model_path")


def _callback_damage(callbacks: Any) -> str | None:
    """What of the callbacks' states is not as a run writes it: each a mapping, every checkpoint path in it a local
    file's (a path with a protocol, e.g. ``local:///home``, is one Lightning would delete, wherever it lies)."""
    if not isinstance(callbacks, dict):
        return "its callbacks state is not a mapping"
    for name, callback in callbacks.items():
        if not isinstance(callback, dict):
            return f"its state of callback {name} is not a mapping"
        kept = callback.get("best_k_models") or {}
        paths = [callback.get(key) for key in CALLBACK_PATHS] + (list(kept) if isinstance(kept, dict) else [kept])
        odd = next((path for path in paths if path is not None and (not isinstance(path, str) or "://" in path)), None)
        if odd is not None:
            return f"its state of callback {name} names {odd!r}, not a local checkpoint file"
    return None


def _count(value: Any) -> bool:
    """Whether ``value`` is a whole number >= 0 (a bool is not)."""
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


# Model options that say how a model is trained, not what it is: a checkpoint may continue or be evaluated
# under other values (e.g. a run trained with the ELBO, iwae_k = 1, continued with the IWAE bound).
TRAINING_OPTIONS = ("optimizer", "scheduler", "iwae_k")


def check_same_model(saved: Mapping[str, Any], current: Mapping[str, Any], source: str) -> None:
    """Raise ``CheckpointError`` naming both configs when two model configs differ (``TRAINING_OPTIONS`` aside).

    An option one side lacks counts as null (off), so checkpoints made before an option existed still load, and
    those of the older VAE classes are compared as today's VAE records itself (``runs.legacy``)."""
    saved = upgrade_hparams(saved, source)
    saved, current = ({k: v for k, v in dict(c).items() if k not in TRAINING_OPTIONS} for c in (saved, current))
    differing = sorted(key for key in saved.keys() | current.keys() if saved.get(key) != current.get(key))
    if differing:
        raise CheckpointError(
            f"the checkpoint of {source} was made by another model configuration (differs in {differing}; "
            f"checkpoint: {saved}; this run: {current}). "
            "Fix: use the same model options as that run (e.g. model=..., latent=...), or start a new run."
        )

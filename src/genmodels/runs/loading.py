"""Loading a trained run for use: ``genmodels.load_run(run_dir)`` is the model of a run folder, rebuilt from its
config (complete, its classes checked before anything is built) with a checkpoint's weights (weights-only), in eval
mode on the device asked for; ``open_run`` also gives the checkpoint and the config (``genmodels.evaluate``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import lightning as L
import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from genmodels.errors import CheckpointError, EvaluationError
from genmodels.runs.checkpoints import check_same_model, checkpoint_file, load_checkpoint, run_checkpoint
from genmodels.runs.definition import read_run_config
from genmodels.runs.trust import check_run_targets


@dataclass(frozen=True)
class LoadedRun:
    """A run folder's model with a checkpoint's weights, and where they came from."""

    folder: Path
    checkpoint: Path
    config: DictConfig  # the run's config, its _target_ classes checked (with paths.output_dir = folder)
    model: L.LightningModule  # in eval mode, on the device asked for
    epoch: int | None  # of the checkpoint, counted from 1 as in the logs
    global_step: int | None


def load_run(
    run_dir: str | Path, checkpoint: str = "auto", device: str | torch.device = "cpu", **options
) -> L.LightningModule:
    """The model of the training run in ``run_dir``, ready to sample (``model.generate(z)``; a GAN's uses its moving
    average of the generator when it keeps one): weights of ``checkpoint`` (``auto``: a GAN's best epoch by sample
    quality, else the last; ``best``; ``last``), eval mode, on ``device``. ``options``: those of ``open_run``."""
    return open_run(run_dir, checkpoint=checkpoint, device=device, **options).model


def open_run(
    run_dir: str | Path | None,
    checkpoint: str = "auto",
    device: str | torch.device = "cpu",
    ckpt_path: str | Path | None = None,
    allowed_targets: Iterable[str] = (),
    trust_run_config: bool = False,
) -> LoadedRun:
    """Rebuild a run's model from its folder and load a checkpoint's weights (``ckpt_path``, else the run's
    ``checkpoint``); ``allowed_targets`` and ``trust_run_config`` widen what its config may build
    (docs/reliability.md). Every failure the user can fix is one ``GenmodelsError`` naming the file."""
    folder, config_file = run_folder(run_dir, ckpt_path)
    config = read_run_config(config_file)
    check_run_targets(config, config_file, allowed_targets, trust_run_config)
    if ckpt_path:
        chosen = checkpoint_file(ckpt_path)
    else:
        chosen = run_checkpoint(folder, checkpoint, OmegaConf.select(config, "monitor.metric"))
    if not chosen.is_file():
        raise EvaluationError(
            f"checkpoint {chosen} does not exist. "
            f"Fix: finish (or resume) the training run in {folder}, or pass ckpt_path=<another .ckpt of it>."
        )
    config.paths.output_dir = str(folder)
    model = instantiate(config.model, _convert_="all")  # plain lists, as train.py builds it
    state = load_checkpoint(chosen)
    try:
        check_same_model(state.get("hyper_parameters", {}), dict(model.hparams), str(chosen))
    except CheckpointError as exc:
        raise CheckpointError(f"{exc}\n(The model options come from {config_file}.)") from None
    model.load_state_dict(state["state_dict"])
    epoch = state.get("epoch")
    return LoadedRun(
        folder,
        chosen,
        config,
        model.to(pick_device(device)).eval(),
        None if epoch is None else epoch + 1,
        state.get("global_step"),
    )


def run_folder(run_dir: str | Path | None, ckpt_path: str | Path | None) -> tuple[Path, Path]:
    """The run folder (``run_dir``, else the one ``ckpt_path`` lies in) and its config file, both checked to exist;
    a sweep folder is refused, naming its jobs."""
    if not run_dir and not ckpt_path:
        raise EvaluationError(
            "nothing to evaluate. Fix: pass run_dir=<a training run's output folder> "
            "(e.g. outputs/train/runs/<date>) or ckpt_path=<its checkpoints/last.ckpt>."
        )
    if run_dir:
        folder = Path(run_dir).expanduser()
    else:
        folder = checkpoint_file(ckpt_path).resolve().parent.parent  # a .ckpt file, or a run folder's last.ckpt
    config = folder / ".hydra" / "config.yaml"
    jobs = sorted(path.parent.parent for path in folder.glob("*/.hydra/config.yaml"))
    if jobs and not config.is_file():  # a sweep folder: its jobs are the runs
        listed = "\n".join(f"  {job}" for job in jobs)
        raise EvaluationError(
            f"{folder} is a sweep folder; each of its {len(jobs)} jobs is a run of its own:\n{listed}\n"
            f"Fix: pass run_dir=<one of them>, or compare them all with python -m genmodels.compare {folder}."
        )
    if not folder.is_dir():
        raise EvaluationError(
            f"run folder {folder} does not exist. Fix: pass run_dir=<the output folder a training run printed "
            "('Run folder: ...'), e.g. outputs/train/runs/<date>>."
        )
    if not config.is_file():
        raise EvaluationError(
            f"run config {config} does not exist, so the model cannot be rebuilt. "
            "Fix: pass run_dir=<a folder written by `python -m genmodels.train`> (it holds .hydra/config.yaml), "
            "or, with ckpt_path, add run_dir=<the run folder of that checkpoint>."
        )
    return folder, config


def pick_device(name: str | torch.device) -> torch.device:
    """``auto`` -> cuda when available, else cpu; anything else as given."""
    return torch.device(("cuda" if torch.cuda.is_available() else "cpu") if name == "auto" else name)

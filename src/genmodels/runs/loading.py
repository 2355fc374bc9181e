"""Loading a trained run for use: ``genmodels.load_run(run_dir)`` is the model of a run folder, rebuilt from its
config (complete, its classes checked before anything is built) with a checkpoint's weights (weights-only), in eval
mode on the device asked for; ``open_run`` also gives the checkpoint and the config (``genmodels.evaluate``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightning as L
import torch
from hydra.errors import InstantiationException
from omegaconf import DictConfig, OmegaConf

from genmodels.errors import CheckpointError, ConfigError, EvaluationError
from genmodels.runs.checkpoints import check_same_model, checkpoint_file, load_checkpoint, run_checkpoint
from genmodels.runs.definition import CONFIG_FIX, read_run_config
from genmodels.runs.trust import check_run_targets
from genmodels.target_options import build


@dataclass(frozen=True)
class LoadedRun:
    """A run folder's model with a checkpoint's weights, and where they came from."""

    folder: Path
    checkpoint: Path
    config: DictConfig  # the run's config, its _target_ classes checked (with paths.output_dir = folder)
    model: L.LightningModule  # in eval mode, on the device asked for
    epoch: int | None  # of the checkpoint, counted from 1 as in the logs
    global_step: int | None

    def build_data(self) -> L.LightningDataModule:
        """The run's data module, built from ``config.data`` (a value it refuses: one ``ConfigError``; the data's own
        errors, e.g. a missing image folder, as they are)."""
        return build_from_folder(self.config, "data", self.folder / ".hydra" / "config.yaml")


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
    model = build_from_folder(config, "model", config_file, check_options=True)
    state = load_checkpoint(chosen)
    try:
        check_same_model(state.get("hyper_parameters", {}), dict(model.hparams), str(chosen))
    except CheckpointError as exc:
        raise CheckpointError(f"{exc}\n(The model options come from {config_file}.)") from None
    try:
        model.load_state_dict(state["state_dict"])
    except RuntimeError as exc:  # missing or unexpected weights, or weights of another shape
        detail = (str(exc).splitlines()[1:] or [str(exc)])[0].strip().rstrip(".")  # below "Error(s) in loading"
        raise CheckpointError(
            f"{chosen} holds weights that do not fit the model of {config_file} ({detail}). "
            "Fix: pass a checkpoint written by this run (<run>/checkpoints/last.ckpt), or restore it from a copy."
        ) from None
    epoch = state.get("epoch")
    return LoadedRun(
        folder,
        chosen,
        config,
        model.to(pick_device(device)).eval(),
        None if epoch is None else epoch + 1,
        state.get("global_step"),
    )


def build_from_folder(config: DictConfig, section: str, config_file: Path, check_options: bool = False) -> Any:
    """The object of a ``section`` of a run's config (its classes checked), built as training builds it (with
    ``check_options``, its options checked against the classes' signatures first); a value refused is one
    ``ConfigError`` naming ``config_file``."""
    try:
        return build(config[section], section if check_options else None)
    except ConfigError as exc:  # its fix (an option on the command line) is not one for a folder's file
        cause = exc.cause.removesuffix(".")
    except InstantiationException as exc:  # a constructor's own TypeError or ValueError on the folder's values
        error = exc.__cause__ or exc
        cause = f"its {section} cannot be built ({type(error).__name__}: {(str(error).splitlines() or [''])[0]})"
    raise ConfigError(f"{config_file} is damaged: {cause}. {CONFIG_FIX}")


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

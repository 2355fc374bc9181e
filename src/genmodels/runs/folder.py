"""Where a training run writes: a folder of its own (``<date>_<time>_<random suffix>``), claimed before anything
is written into it. The run holds ``<folder>/.lock`` while it runs and writes ``.hydra/`` itself (Hydra's writing is
off: it would come before any check). A folder holding a run is refused, except to continue that run: ``resume=``,
or a sweep run again with ``hydra.sweep.dir=`` whose job has the same overrides (finished jobs are skipped).
"""

from __future__ import annotations

import copy
import functools
import logging
import os
import secrets
import shutil
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hydra.core.hydra_config import HydraConfig
from hydra.experimental.callback import Callback
from hydra.types import RunMode
from lightning.pytorch.utilities.rank_zero import rank_zero_only
from omegaconf import DictConfig, OmegaConf, open_dict

from genmodels.errors import RunFolderError
from genmodels.overrides import shell_command
from genmodels.runs.atomic import write_atomic, write_json
from genmodels.runs.attempt import ResumeAttempt
from genmodels.runs.definition import read_overrides, read_run_config
from genmodels.runs.legacy import upgrade_overrides
from genmodels.runs.loading import build_from_folder
from genmodels.runs.resume import resume_commands, resume_plan, resumed_config
from genmodels.runs.summary import METRICS_FILE, read_summary
from genmodels.runs.trust import check_resolvers, check_run_targets
from genmodels.schema import validate_train_config

log = logging.getLogger(__name__)

CONFIG_FILE = Path(".hydra") / "config.yaml"
OVERRIDES_FILE = Path(".hydra") / "overrides.yaml"
HYDRA_FILE = Path(".hydra") / "hydra.yaml"
LOCK_FILE = ".lock"
COMMAND_ONLY = ("resume=", "allowed_targets=", "trust_run_config=")  # how a command opens folders, not the run


def unique(stem: str) -> str:
    """``<stem>_<6 random hex digits>``: runs started in the same second (same ``${now:...}`` stem) differ."""
    return f"{stem}_{secrets.token_hex(3)}"


def run_folder(stem: str, resume: str | None = None) -> str:
    """``hydra.run.dir``: the resumed run's own folder, else ``unique(stem)``; resolved before Hydra creates the
    folder and opens its log, so a ``resume=`` that names no run, or a folder holding a link, stops here with
    nothing created."""
    if resume is None:
        return unique(stem)
    if not (Path(resume) / CONFIG_FILE).is_file():
        raise SystemExit(
            f"error: resume={resume} names no training run ({Path(resume) / CONFIG_FILE} is missing). "
            "Fix: pass the folder a run printed as 'Run folder: ...', e.g. resume=outputs/train/runs/<name>."
        )
    try:
        check_no_links(Path(resume))
    except RunFolderError as exc:
        raise SystemExit(f"error: {exc}") from None
    return resume


def sweep_folder(stem: str, resume: str | None = None) -> str:
    """``hydra.sweep.dir``: ``unique(stem)``; ``resume=`` is refused in a sweep."""
    if resume is not None:
        raise SystemExit(
            f"error: resume={resume} continues one run and cannot be part of a sweep (-m). Fix: continue that run "
            f"alone with {resume_commands(Path(resume))[0]}, or continue a whole "
            "sweep by running its command again with hydra.sweep.dir=<its sweep folder> (finished jobs are skipped)."
        )
    return unique(stem)


OmegaConf.register_new_resolver("run_folder", run_folder, use_cache=True, replace=True)
OmegaConf.register_new_resolver("sweep_folder", sweep_folder, use_cache=True, replace=True)


class SweepSummary(Callback):
    """Hydra callback: after a sweep's last job, name the sweep folder and the command that compares its jobs."""

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        folder = str(config.hydra.sweep.dir)
        log.info("Sweep folder: %s. Compare its jobs with: %s", folder, shell_command("genmodels.compare", [folder]))


@dataclass
class ClaimedRun:
    """The folder a run owns now, the config it runs with, and whether it already finished (nothing to do)."""

    folder: Path
    config: DictConfig
    finished: bool = False
    # A resume's attempt: its new definition (.hydra/config.yaml, overrides.yaml) written after its first new
    # checkpoint, what it wrote undone if it fails before.
    pending: ResumeAttempt | None = None


@contextmanager
def claim_run_folder(cfg: DictConfig) -> Iterator[ClaimedRun]:
    """Claim the Hydra output folder for this run, or raise ``RunFolderError`` having written nothing. Inside, the
    folder's lock is held and an escaping exception is recorded in ``failed.json``; DDP ranks other than 0 only
    build the same config."""
    hydra_cfg = HydraConfig.get()
    folder = Path(hydra_cfg.runtime.output_dir)
    overrides = [o for o in hydra_cfg.overrides.task if not o.startswith(COMMAND_ONLY)]
    resume = cfg.get("resume")
    sweeping = hydra_cfg.mode == RunMode.MULTIRUN
    if rank_zero_only.rank != 0:
        continues = resume or _same_sweep_job(folder, overrides, sweeping)
        yield ClaimedRun(folder, continued_config(folder, overrides, cfg)[0] if continues else cfg)
        return
    if resume and Path(resume).resolve() != folder.resolve():
        raise RunFolderError(
            f"resume={resume} continues the run in its own folder, but hydra.run.dir is {folder}. "
            "Fix: leave out hydra.run.dir."
        )
    with folder_lock(folder):
        saved = saved_overrides(folder)
        if resume or _same_sweep_job(folder, overrides, sweeping):
            run = _continue(folder, overrides, cfg)
        elif saved is None:
            write_run_files(folder, cfg, overrides, with_hydra=True)
            run = ClaimedRun(folder, cfg)
        else:
            raise _foreign(folder, saved, overrides, sweeping)
        try:
            yield run
        except Exception as exc:
            if run.pending is not None and not run.pending.committed:
                run.pending.undo()  # the folder stays as it was: no failed.json either
                raise
            record = {"error": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc()}
            try:
                write_json(folder / "failed.json", record)
            except RunFolderError as not_recorded:  # e.g. the same full disk: the cause is printed, this after it
                exc.add_note(f"not recorded in failed.json: {not_recorded}")
            raise


NEW_FOLDER_FIX = "Fix: wait for that run to end, or leave out hydra.run.dir / hydra.sweep.dir to get a new folder."


@contextmanager
def folder_lock(folder: Path, fix: str = NEW_FOLDER_FIX) -> Iterator[None]:
    """Hold ``<folder>/.lock`` (an ``flock``, released even on kill -9; none on Windows), or raise
    ``RunFolderError`` (ending in ``fix``) when another process holds it: a training run, a resume or an evaluate.
    A folder holding a link is refused too: what a command writes stays inside the folder."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        yield
        return
    folder.mkdir(parents=True, exist_ok=True)
    check_no_links(folder)
    handle = os.open(folder / LOCK_FILE, os.O_CREAT | os.O_RDWR | os.O_NOFOLLOW, 0o644)
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RunFolderError(
                f"{folder} is in use by another running process (its lock {folder / LOCK_FILE} is held). "
                f"A command never writes into a folder another one is writing. {fix}"
            ) from None
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
    finally:
        os.close(handle)


def check_no_links(folder: Path) -> None:
    """Raise ``RunFolderError`` naming the first symbolic link inside ``folder``: a command would write through it,
    into another place (e.g. a shared run whose ``checkpoints`` or ``.lock`` points into the user's files)."""
    for parent, names, files in os.walk(folder):
        link = next((Path(parent, name) for name in (*names, *files) if Path(parent, name).is_symlink()), None)
        if link is not None:
            raise RunFolderError(
                f"{link} is a link (to {os.readlink(link)}); a command writes only into the run folder's own files "
                "and folders, never through a link to another place. Fix: replace the link by a copy of what it "
                "points to, or remove it, then run the command again."
            )


@contextmanager
def remove_unused_folder(folder: Path) -> Iterator[None]:
    """Remove the new folder Hydra made for this run (holding only its log) when the checks inside fail."""
    try:
        yield
    except Exception:
        if folder.is_dir() and {entry.name for entry in folder.iterdir()} <= {"train.log", "evaluate.log"}:
            shutil.rmtree(folder, ignore_errors=True)
        raise


def _same_sweep_job(folder: Path, overrides: list[str], sweeping: bool) -> bool:
    """Whether this sweep job finds its own earlier attempt in ``folder`` (a sweep run again in its folder)."""
    saved = saved_overrides(folder)
    return sweeping and saved is not None and sorted(saved) == sorted(overrides)


def _foreign(folder: Path, saved: list[str], overrides: list[str], sweeping: bool) -> RunFolderError:
    """The refusal of a folder that holds another run."""
    fix = (
        "Fix: leave out hydra.sweep.dir to start a new sweep, or run the command of that sweep to continue it."
        if sweeping
        else "Fix: leave out hydra.run.dir to get a new folder, or continue that run with "
        f"{resume_commands(folder)[0]}."
    )
    return RunFolderError(
        f"{folder} already holds a run (its overrides: {' '.join(saved) or 'none'}; this command's: "
        f"{' '.join(overrides) or 'none'}). A new run never writes into another run's folder. {fix}"
    )


def _continue(folder: Path, overrides: list[str], command: DictConfig) -> ClaimedRun:
    """Continue the run in ``folder`` with ``overrides`` applied to its saved config, or report it finished."""
    config, merged, changes = continued_config(folder, overrides, command)
    plan = resume_plan(folder, config)
    if plan.finished and (folder / METRICS_FILE).is_file():
        log.info(
            "%s: this run has finished (%s, metrics.json written); nothing to do. To train longer: %s "
            "trainer.max_epochs=<more>",
            folder,
            plan.describe(),
            resume_commands(folder)[0],
        )
        return ClaimedRun(folder, config, finished=True)
    definition = functools.partial(write_run_files, folder, copy.deepcopy(config), merged, with_hydra=False)
    attempt = ResumeAttempt(folder, definition)  # notes the folder as it is, its log before the line below
    changed = ", ".join(f"{key}={value}" for key, value in changes.items())
    log.info(
        "Resuming %s (%s)%s: %s",
        folder,
        " ".join(merged) or "default options",
        f" with {changed}" if changed else "",
        plan.describe(),
    )
    return ClaimedRun(folder, config, pending=attempt)


def continued_config(folder: Path, overrides: list[str], command: DictConfig) -> tuple[DictConfig, list[str], dict]:
    """The run's config in ``folder`` with ``overrides`` applied, checked (trust options from this command only)."""
    saved = read_run_config(folder / CONFIG_FILE)
    config, merged, changes = resumed_config(
        saved, upgrade_overrides(saved_overrides(folder) or []), overrides, HydraConfig.get().job.config_name
    )
    # What will be built, the folder's config with the changes: classes only, of allowed packages, and (read_run_config
    # checked the saved config) no other resolvers in what the changes brought.
    if changes:
        check_resolvers(config, folder / CONFIG_FILE)
    check_run_targets(
        config, folder / CONFIG_FILE, command.get("allowed_targets") or (), command.get("trust_run_config")
    )
    build_from_folder(config, "model", folder / CONFIG_FILE, check_options=True)  # a value refused names the file
    config.resume = str(folder)
    validate_train_config(config)  # e.g. trainer.accelerator=gpu on a machine without one, before any write
    return config, merged, changes


def saved_overrides(folder: Path) -> list[str] | None:
    """The overrides of the run that owns ``folder``, or None when no run owns it yet."""
    path = folder / OVERRIDES_FILE
    return read_overrides(path) if path.is_file() else None


def write_run_files(folder: Path, cfg: DictConfig, overrides: list[str], with_hydra: bool) -> None:
    """Write, atomically, ``.hydra/config.yaml`` and ``overrides.yaml`` (without ``resume`` and the trust options)
    and, for a new run, ``hydra.yaml``."""
    definition = copy.deepcopy(cfg)
    definition.resume = None
    with open_dict(definition):
        definition.pop("allowed_targets", None)
        definition.pop("trust_run_config", None)
    files = {CONFIG_FILE: definition, OVERRIDES_FILE: OmegaConf.create(overrides)}
    if with_hydra:
        files[HYDRA_FILE] = OmegaConf.create({"hydra": HydraConfig.get()})
    for name, content in files.items():
        write_atomic(folder / name, OmegaConf.to_yaml(content).encode())


def finished_metric(folder: Path, metric: str | None) -> float | None:
    """The monitored metric of a finished run's ``metrics.json`` (what a sweeper reads), if any."""
    return read_summary(folder).get("metrics", {}).get(metric) if metric else None

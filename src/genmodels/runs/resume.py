"""Continuing a run in its own folder: ``python -m genmodels.train resume=<run dir> [overrides]``.

The saved config gets only the overrides given now; those that would change the model, the data, the seed or the
starting checkpoint are refused by name. Training continues from the last finished epoch (``last.ckpt``), which
reproduces the uninterrupted run exactly, so the steps after it (``interrupted.ckpt``) are trained again.
"""

from __future__ import annotations

import copy
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hydra import compose
from hydra.core.hydra_config import HydraConfig
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from genmodels.errors import CheckpointError, ConfigError
from genmodels.overrides import path_override, shell_command
from genmodels.runs.checkpoints import load_checkpoint, resume_checkpoint

# Top-level keys a resume may not change: they define the model, the data and the random draws.
PROTECTED = ("model", "data", "latent", "seed", "ckpt_path")
REMOVED = "<removed>"


def merge_overrides(saved: list[str], new: list[str]) -> list[str]:
    """The saved overrides, those of a key (or config group) set anew replaced by the new ones."""
    parser = OverridesParser.create()
    keys = {parser.parse_override(override).get_key_element() for override in new}
    return [override for override in saved if parser.parse_override(override).get_key_element() not in keys] + new


def resumed_config(
    saved_config: DictConfig, saved_overrides: list[str], overrides: list[str], config_name: str = "train"
) -> tuple[DictConfig, list[str], dict[str, Any]]:
    """The saved config with the effect of ``overrides`` (what they change in a fresh composition of the run's own
    overrides, so group options work) applied; also the merged overrides and the changes."""
    merged = merge_overrides(saved_overrides, overrides)
    if not overrides:
        return copy.deepcopy(saved_config), merged, {}
    before = _flatten(OmegaConf.to_container(compose(config_name, overrides=saved_overrides)))
    after = _flatten(OmegaConf.to_container(compose(config_name, overrides=merged)))
    changes = {
        key: after.get(key, REMOVED)
        for key in sorted(before.keys() | after.keys())
        if before.get(key, REMOVED) != after.get(key, REMOVED)
    }
    refused = sorted({key for key in changes if key.split(".")[0] in PROTECTED})
    if refused:
        raise ConfigError(
            f"a resume continues the run with its own model, data and seed; {' '.join(overrides)} would change "
            f"{', '.join(refused)}. Fix: leave these overrides out to continue the run, or start a new run "
            "(without resume=) for other settings."
        )
    config = copy.deepcopy(saved_config)
    OmegaConf.set_struct(config, False)  # overrides may add and remove keys (+key=..., ~key)
    for key, value in changes.items():
        if value == REMOVED:
            _delete(config, _removed_root(key, after))
        else:
            OmegaConf.update(config, key, value, merge=False, force_add=True)
    return config, merged, changes


def _flatten(node: Any, prefix: str = "") -> dict[str, Any]:
    """Dotted keys to leaf values (lists and empty dicts are leaves)."""
    if not isinstance(node, dict) or not node:
        return {prefix: node}
    flat: dict[str, Any] = {}
    for key, value in node.items():
        flat.update(_flatten(value, f"{prefix}.{key}" if prefix else str(key)))
    return flat


def _removed_root(key: str, after: dict[str, Any]) -> str:
    """The shortest prefix of ``key`` that no key of ``after`` lies under (``~logger`` removes ``logger``)."""
    parts = key.split(".")
    for end in range(1, len(parts) + 1):
        prefix = ".".join(parts[:end])
        if not any(k == prefix or k.startswith(prefix + ".") for k in after):
            return prefix
    return key


def _delete(config: DictConfig, key: str) -> None:
    """Delete the dotted ``key`` from ``config`` if it is there."""
    parent_key, _, name = key.rpartition(".")
    parent = OmegaConf.select(config, parent_key) if parent_key else config
    if parent is not None and name in parent:
        del parent[name]


@dataclass(frozen=True)
class ResumePlan:
    """Where a resumed run stands: the checkpoint it continues from, epochs done and configured."""

    checkpoint: Path | None
    epochs_done: int
    max_epochs: int | None
    interrupted: bool

    @property
    def finished(self) -> bool:
        return self.max_epochs is not None and 0 <= self.max_epochs <= self.epochs_done

    def describe(self) -> str:
        """E.g. 'epoch 2 of 3 done (checkpoints/last.ckpt), 1 to go'."""
        total = "?" if self.max_epochs is None or self.max_epochs < 0 else str(self.max_epochs)
        if self.checkpoint is None:
            text = f"no epoch had finished: training starts again at epoch 1 of {total}"
        elif self.finished:
            text = f"all {self.epochs_done} epochs done ({self.checkpoint.parent.name}/{self.checkpoint.name})"
        else:
            left = "" if total == "?" else f", {int(total) - self.epochs_done} to go"
            text = f"epoch {self.epochs_done} of {total} done ({self.checkpoint.parent.name}/last.ckpt){left}"
        if self.interrupted:
            text += (
                "; the steps after it (checkpoints/interrupted.ckpt) are trained again, as a resume from an epoch "
                "boundary reproduces the uninterrupted run exactly"
            )
        return text


def resume_plan(run_dir: Path, config: DictConfig) -> ResumePlan:
    """Read where the run in ``run_dir`` stands against the epochs ``config`` asks for."""
    checkpoint = resume_checkpoint(run_dir)
    done = 0
    if checkpoint is not None:
        try:
            state = load_checkpoint(checkpoint)
        except CheckpointError as exc:
            raise CheckpointError(
                f"cannot resume {run_dir}: {exc.cause} Fix: move {checkpoint} aside (e.g. to last.ckpt.damaged) to "
                "train the run again from its first epoch, or start a new run; nothing in the folder was changed."
            ) from None
        done = int(state["loops"]["fit_loop"]["epoch_progress"]["current"]["processed"])  # epochs finished
    interrupted = (run_dir / "checkpoints" / "interrupted.ckpt").is_file()
    return ResumePlan(checkpoint, done, OmegaConf.select(config, "trainer.max_epochs"), interrupted)


def resume_commands(run_dir: Path) -> list[str]:
    """How to continue the run in ``run_dir``: the single-run command, and in a sweep the sweep's own command."""
    commands = [shell_command("genmodels.train", [path_override("resume", run_dir)])]
    if HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN:
        sweep_dir = HydraConfig.get().sweep.dir
        args = [a for a in sys.argv[1:] if not a.startswith(("hydra.sweep.dir=", "resume="))]
        commands.append(shell_command("genmodels.train", [*args, path_override("hydra.sweep.dir", sweep_dir)]))
    return commands

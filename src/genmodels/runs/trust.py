"""Which classes a run folder's config may name: opening a shared run folder runs none of its own code.

``evaluate`` and ``resume=`` rebuild the model, the data module, the callbacks and the loggers from the run's
``.hydra/config.yaml`` with Hydra's ``instantiate``, which calls whatever a ``_target_`` names. Before that,
every ``_target_`` in the whole config (nested ones too) must lie in ``ALLOWED``, or in the command's
``allowed_targets`` (a model of your own: ``allowed_targets=[mypackage.]``); ``trust_run_config=true`` lifts
the check for a folder you trust.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from genmodels.errors import RunFolderError

# Module prefixes (a trailing dot) or full names of the targets every run config may name.
ALLOWED = (
    "genmodels.",
    "torch.optim.",
    "torch.nn.",
    "lightning.pytorch.Trainer",
    "lightning.pytorch.callbacks.",
    "lightning.pytorch.loggers.",
)


def _targets(node: Any, key: str = "") -> Iterator[tuple[str, str]]:
    """(dotted key, target) of every ``_target_`` under ``node``."""
    if isinstance(node, dict):
        for name, value in node.items():
            if name == "_target_":
                yield key or "<top>", str(value)
            else:
                yield from _targets(value, f"{key}.{name}" if key else str(name))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _targets(value, f"{key}[{index}]")


def is_allowed(target: str, extra: Iterable[str] = ()) -> bool:
    """Whether ``target`` is one of the allowed names or lies under an allowed prefix (one ending in a dot)."""
    return any(target == entry or (entry.endswith(".") and target.startswith(entry)) for entry in (*ALLOWED, *extra))


def check_run_targets(config: DictConfig, source: Path, allowed: Iterable[str] = (), trust: bool = False) -> None:
    """Raise ``RunFolderError`` naming the first ``_target_`` of ``config`` (read from ``source``) not allowed."""
    if trust:
        return
    extra = [str(entry) for entry in allowed or ()]
    for key, target in _targets(OmegaConf.to_container(config, resolve=False)):
        if not is_allowed(target, extra):
            raise RunFolderError(
                f"{source} names {key}._target_={target}, which is not a class genmodels rebuilds from a run folder "
                "(its own models and data, torch optimizers, schedulers and modules, the Lightning Trainer, "
                "callbacks and loggers): opening a run folder runs no code of its own. Fix: if you trust this "
                f"folder, add allowed_targets=[{target}] (or trust_run_config=true) to the command."
            )

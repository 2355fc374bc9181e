"""Which classes a run folder's config may name: ``evaluate`` and ``resume=`` rebuild objects from it with Hydra's
``instantiate``, so every ``_target_`` must lie in ``ALLOWED`` or the command's ``allowed_targets``, unless
``trust_run_config=true``: opening a shared run folder runs none of its own code.
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


def check_run_targets(config: DictConfig, source: Path, allowed: Iterable[str] = (), trust: bool = False) -> None:
    """Raise ``RunFolderError`` naming the first ``_target_`` of ``config`` (read from ``source``) that is neither an
    allowed name nor under an allowed prefix (one ending in a dot)."""
    if trust:
        return
    entries = [*ALLOWED, *(str(entry) for entry in allowed or ())]
    for key, target in _targets(OmegaConf.to_container(config, resolve=False)):
        if not any(target == entry or (entry.endswith(".") and target.startswith(entry)) for entry in entries):
            raise RunFolderError(
                f"{source} names {key}._target_={target}, which is not a class genmodels rebuilds from a run folder "
                "(its own models and data, torch optimizers, schedulers and modules, the Lightning Trainer, "
                "callbacks and loggers): opening a run folder runs no code of its own. Fix: if you trust this "
                f"folder, add allowed_targets=[{target}] (or trust_run_config=true) to the command."
            )

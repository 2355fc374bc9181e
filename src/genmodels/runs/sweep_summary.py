"""The closing line of a sweep (``-m``): where its jobs are and how to compare them."""

from __future__ import annotations

import logging
import shlex
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

log = logging.getLogger(__name__)


class SweepSummary(Callback):
    """Hydra callback: after the last job, name the sweep folder and the command that compares its jobs."""

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        folder = shlex.quote(str(config.hydra.sweep.dir))
        log.info("Sweep folder: %s. Compare its jobs with: python -m genmodels.compare %s", folder, folder)

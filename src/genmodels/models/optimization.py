"""Optimizers and epoch-stepped learning-rate schedules from the config partials ``model.optimizer`` and
``model.scheduler`` (``lr_scheduler=<name>``), shared by every model."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

import torch
from torch.optim import Optimizer
from torch.optim.lr_scheduler import LRScheduler, ReduceLROnPlateau

from genmodels.errors import ConfigError

OptimizerFactory = Callable[..., Optimizer]
SchedulerFactory = Callable[[Optimizer], LRScheduler]


def optimizer_config(
    parameters: Iterable[torch.nn.Parameter],
    optimizer: OptimizerFactory | None = None,
    scheduler: SchedulerFactory | None = None,
) -> dict:
    """An optimizer over ``parameters`` (Adam when ``optimizer`` is None) and, with ``scheduler``, its schedule, as
    Lightning's ``{"optimizer": ..., "lr_scheduler": ...}`` dictionary for ``configure_optimizers``."""
    built = (optimizer or torch.optim.Adam)(parameters)
    if scheduler is None:
        return {"optimizer": built}
    schedule = scheduler(built)
    if isinstance(schedule, ReduceLROnPlateau):
        raise ConfigError(
            "model.scheduler: ReduceLROnPlateau needs a monitored metric, and schedules here step once per epoch "
            "on their own. Use a schedule that depends only on the epoch, e.g. lr_scheduler=exponential or "
            "lr_scheduler=step (configs/lr_scheduler/)."
        )
    return {"optimizer": built, "lr_scheduler": {"scheduler": schedule, "interval": "epoch"}}


def learning_rates(optimizers: Mapping[str, Optimizer]) -> dict[str, float]:
    """The learning rate of each named optimizer's first parameter group: ``{"lr/<name>": ...}``, or ``{"lr": ...}``
    for the name ``""``."""
    return {f"lr/{name}" if name else "lr": opt.param_groups[0]["lr"] for name, opt in optimizers.items()}

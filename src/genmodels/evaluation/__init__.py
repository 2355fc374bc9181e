"""The steps of ``python -m genmodels.evaluate`` (likelihood, sample quality, publishing) and their results."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from genmodels.errors import EvaluationError

__all__ = ["EvaluationError", "StepResult", "timed"]


@dataclass
class StepResult:
    """The numbers of a step (``metrics``), their real-vs-real ``floors``, how they were obtained, seconds per part."""

    metrics: dict[str, float]
    details: dict[str, Any]
    floors: dict[str, float] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)


@contextmanager
def timed(seconds: dict[str, float], key: str) -> Iterator[None]:
    """Record the wall time of the block under ``seconds[key]``."""
    started = time.perf_counter()
    try:
        yield
    finally:
        seconds[key] = time.perf_counter() - started

"""The steps of ``python -m genmodels.evaluate``, each returning a small result object.

- ``likelihood``: the test negative ELBO and the IWAE estimate of -log p(x) of a model with a likelihood;
- ``sample_quality``: FID, Inception Score, class coverage and precision/recall of a model's samples, each
  beside its real-vs-real floor (and, opt-in, the standard Inception FID);
- ``publish``: ``eval.json``, the run's ``metrics.json``, TensorBoard and the printed table.

The metrics themselves are pure functions on tensors in ``genmodels.metrics``.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

from genmodels.errors import EvaluationError

__all__ = ["EvaluationError", "timed"]


@contextmanager
def timed(seconds: dict[str, float], key: str) -> Iterator[None]:
    """Record the wall time of the block under ``seconds[key]``."""
    started = time.perf_counter()
    try:
        yield
    finally:
        seconds[key] = time.perf_counter() - started

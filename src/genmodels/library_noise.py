"""Messages of the libraries we use that say nothing about the run, kept out of its output."""

from __future__ import annotations

import logging
import warnings

LIGHTNING_INFO_LOGGERS = ("lightning.pytorch.utilities.rank_zero", "lightning.fabric.utilities.rank_zero")


def _not_an_advert(record: logging.LogRecord) -> bool:
    return "litlogger" not in record.getMessage()


def silence_library_noise() -> None:
    """Drop Lightning's advert for its cloud logger and its use of a PyTorch API that PyTorch now deprecates.

    Both come from Lightning itself (2.6) on every run, and neither asks anything of us.
    """
    for name in LIGHTNING_INFO_LOGGERS:
        logger = logging.getLogger(name)
        if _not_an_advert not in logger.filters:
            logger.addFilter(_not_an_advert)
    leaf_spec = r"`isinstance\(treespec, LeafSpec\)` is deprecated"
    warnings.filterwarnings("ignore", message=leaf_spec, category=FutureWarning)

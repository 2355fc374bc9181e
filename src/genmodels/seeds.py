"""The seed of each epoch's random streams, derived from the run's seed.

A stream seeded from (seed, epoch) draws the same numbers whatever ran before it in the process, so a
resumed run repeats what the uninterrupted run drew: the data order of an epoch (``EpochShuffle``) and the
noise each process draws in it (``EpochSeeding``).
"""

from __future__ import annotations

# Epoch e of a run seeded s draws from s * SEED_STRIDE + e (+ rank * RANK_STRIDE in process ``rank`` of a DDP run):
# runs with neighbouring seeds, and the processes of one run, draw different numbers.
SEED_STRIDE = 1_000_003
RANK_STRIDE = 7919


def epoch_seed(seed: int, epoch: int, rank: int = 0) -> int:
    """The seed of ``epoch``'s stream in process ``rank`` of a run seeded with ``seed``."""
    return seed * SEED_STRIDE + epoch + rank * RANK_STRIDE

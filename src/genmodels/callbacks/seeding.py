"""Per-epoch reseeding, so that a resumed run draws the same random numbers as an uninterrupted one."""

from __future__ import annotations

import random

import lightning as L
import numpy as np
import torch

from genmodels.seeds import epoch_seed

TEST_STREAM = -1  # the stream of the test loop, apart from every training epoch's


class EpochSeeding(L.Callback):
    """Reseed torch, numpy and Python's random from (seed, epoch) at each epoch start, and the test loop from its
    own stream, so the draws never depend on what ran before in this process."""

    def __init__(self, seed: int) -> None:
        self.seed = seed

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._reseed(trainer.current_epoch, trainer.global_rank)

    def on_test_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._reseed(TEST_STREAM, trainer.global_rank)

    def _reseed(self, stream: int, rank: int) -> None:
        stream_seed = epoch_seed(self.seed, stream, rank) % 2**32  # numpy takes seeds below 2**32
        torch.manual_seed(stream_seed)
        np.random.seed(stream_seed)
        random.seed(stream_seed)

"""Per-epoch reseeding, so that a resumed run draws the same random numbers as an uninterrupted one."""

from __future__ import annotations

import random

import lightning as L
import numpy as np
import torch

from genmodels.seeds import epoch_seed

TEST_STREAM = -1  # the stream of the test loop, apart from every training epoch's


class EpochSeeding(L.Callback):
    """Reseed torch, numpy and Python's random module at the start of each epoch from (seed, epoch).

    The noise of an epoch (reparameterization samples, dynamic binarization, GAN noise and label noise)
    then depends only on the seed and the epoch number, not on what ran before in this process. The
    test loop is reseeded too, so its draws do not depend on how many epochs this process trained (a
    resumed run that only has testing left draws what the uninterrupted run drew).
    The data order is seeded per epoch by the data module's sampler.
    """

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

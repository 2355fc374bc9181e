"""Per-epoch reseeding, so that a resumed run draws the same random numbers as an uninterrupted one."""

from __future__ import annotations

import random

import lightning as L
import numpy as np
import torch


class EpochSeeding(L.Callback):
    """Reseed torch, numpy and Python's random module at the start of each epoch from (seed, epoch).

    The noise of an epoch (reparameterization samples, dynamic binarization, GAN noise and label noise)
    then depends only on the seed and the epoch number, not on what ran before in this process.
    The data order is seeded per epoch by the data module's sampler.
    """

    def __init__(self, seed: int) -> None:
        self.seed = seed

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        epoch_seed = (self.seed * 1_000_003 + trainer.current_epoch + trainer.global_rank * 7919) % (2**32)
        torch.manual_seed(epoch_seed)
        np.random.seed(epoch_seed)
        random.seed(epoch_seed)

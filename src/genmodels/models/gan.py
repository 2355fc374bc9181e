"""Adversarial training shared by every GAN: the training step, the tricks, sampling and the optimizers.

A GAN here is a generator (z ~ N(0, I) -> images in [-1, 1]) and a discriminator (images -> one logit
each). Subclasses build the two networks (convolutional in ``dcgan.py``, fully connected in
``gan_mlp.py``); this module trains them, one discriminator step then one generator step per batch
(Lightning manual optimization), each with its own optimizer built from the same partial optimizer and,
when one is configured, its own learning-rate schedule (stepped here after every epoch, as manual
optimization leaves that to the model).

Training tricks, each a switch (both off = the plain minimax GAN of Goodfellow et al. 2014):

* ``non_saturating``: the generator maximises log D(G(z)) instead of minimising log(1 - D(G(z))).
* ``label_smoothing``: soft noisy labels for real images, uniform in [0.7, 1.2], each replaced with
  probability ``label_flip_prob`` by a value uniform in [0.0, 0.3] (Salimans et al. 2016).
  Fake labels are always 0.
"""

from __future__ import annotations

import lightning as L
import torch
from torch import nn

from genmodels.models.epoch_means import EpochMeans
from genmodels.models.losses import discriminator_loss, generator_loss
from genmodels.models.optimization import OptimizerFactory, SchedulerFactory, learning_rates, optimizer_config
from genmodels.validation import require_positive_int, require_probability

# The networks in the order of their optimizers (``training_step`` unpacks them so).
NETWORK_ORDER = ("discriminator", "generator")
SMOOTH_REAL_RANGE = (0.7, 1.2)
FLIPPED_REAL_RANGE = (0.0, 0.3)


def real_labels(
    batch_size: int,
    smoothing: bool,
    flip_prob: float = 0.05,
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """Discriminator targets for a batch of real images, (batch_size,).

    Without ``smoothing`` all ones. With it, uniform in [0.7, 1.2], and each label is replaced with
    probability ``flip_prob`` by a value uniform in [0.0, 0.3] (the flips belong to the smoothing trick
    and are off with it). Draws come from ``generator`` (on its own device) when given, so they can
    be reproduced; the result is placed on ``device``.
    """
    require_probability("model.label_flip_prob", flip_prob)
    draw_device = generator.device if generator is not None else device
    if not smoothing:
        return torch.ones(batch_size, device=device)
    low, high = SMOOTH_REAL_RANGE
    labels = torch.empty(batch_size, device=draw_device).uniform_(low, high, generator=generator)
    if flip_prob > 0:
        low, high = FLIPPED_REAL_RANGE
        flipped = torch.rand(batch_size, generator=generator, device=draw_device) < flip_prob
        flipped_values = torch.empty(batch_size, device=draw_device).uniform_(low, high, generator=generator)
        labels = torch.where(flipped, flipped_values, labels)
    return labels.to(device) if device is not None else labels


class GAN(L.LightningModule):
    """A generator and a discriminator trained against each other on images in [-1, 1].

    Subclasses call ``super().__init__(...)`` first, then set ``self.generator`` ((B, latent_dim) ->
    (B, 1, S, S) in [-1, 1]) and ``self.discriminator`` ((B, 1, S, S) -> float32 logits (B,)).

    Args:
        latent_dim: size of z.
        non_saturating: generator maximises log D(G(z)) (else minimises log(1 - D(G(z)))).
        label_smoothing: soft noisy real labels in [0.7, 1.2], flipped to [0, 0.3] with ``label_flip_prob``.
        label_flip_prob: probability of a flipped real label when smoothing.
        optimizer: a partial optimizer (Hydra ``_partial_: true``), called once per network.
        scheduler: a partial learning-rate scheduler, called once per network's optimizer; None = constant rate.
    """

    generator: nn.Module
    discriminator: nn.Module

    def __init__(
        self,
        latent_dim: int,
        non_saturating: bool = True,
        label_smoothing: bool = True,
        label_flip_prob: float = 0.05,
        optimizer: OptimizerFactory | None = None,
        scheduler: SchedulerFactory | None = None,
    ) -> None:
        super().__init__()
        require_positive_int("latent", latent_dim)
        require_probability("model.label_flip_prob", label_flip_prob)
        self.automatic_optimization = False
        self.latent_dim = latent_dim
        self.non_saturating, self.label_smoothing = non_saturating, label_smoothing
        self.label_flip_prob = label_flip_prob
        self.optimizer_factory, self.scheduler_factory = optimizer, scheduler
        # Losses, mean D(x) and mean D(G(z)) averaged over each epoch.
        self.epoch_means = EpochMeans(["d_loss", "g_loss", "d_real", "d_fake"])

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """Generated images in [-1, 1] (the data's range)."""
        return self.generator(z)

    def sample_noise(self, count: int) -> torch.Tensor:
        return torch.randn(count, self.latent_dim, device=self.device)

    def training_step(self, batch, batch_idx: int) -> dict[str, torch.Tensor]:
        """One discriminator step, then one generator step; returns both losses (detached, for callbacks)."""
        x, _ = batch
        batch_size = len(x)
        opt_d, opt_g = self.optimizers()
        # Generated before the toggles, so the graph reaches the generator for its own step below.
        fake = self.generator(self.sample_noise(batch_size))

        # Discriminator: real images against (soft) real labels, fakes against 0.
        self.toggle_optimizer(opt_d)
        real_logits = self.discriminator(x)
        fake_logits = self.discriminator(fake.detach())
        targets = real_labels(batch_size, self.label_smoothing, self.label_flip_prob, device=x.device)
        d_loss = discriminator_loss(real_logits, fake_logits, targets).mean()
        opt_d.zero_grad(set_to_none=True)
        self.manual_backward(d_loss)
        opt_d.step()
        self.untoggle_optimizer(opt_d)

        # Generator: against the just-updated discriminator.
        self.toggle_optimizer(opt_g)
        g_loss = generator_loss(self.discriminator(fake), self.non_saturating).mean()
        opt_g.zero_grad(set_to_none=True)
        self.manual_backward(g_loss)
        opt_g.step()
        self.untoggle_optimizer(opt_g)

        metrics = {
            "d_loss": d_loss.detach(),
            "g_loss": g_loss.detach(),
            "d_real": torch.sigmoid(real_logits.detach()).mean(),
            "d_fake": torch.sigmoid(fake_logits.detach()).mean(),
        }
        self.epoch_means.update(metrics, weight=batch_size)
        if batch_idx % self.trainer.log_every_n_steps == 0:  # per-step values are only kept this often anyway
            self.log_dict({f"train_step/{k}": v for k, v in metrics.items()}, prog_bar=True, batch_size=batch_size)
        return {"d_loss": metrics["d_loss"], "g_loss": metrics["g_loss"]}

    def on_train_epoch_start(self) -> None:
        self.log_dict(learning_rates(dict(zip(NETWORK_ORDER, self.trainer.optimizers))))

    def on_train_epoch_end(self) -> None:
        self.log_dict({f"train/{k}": v for k, v in self.epoch_means.compute_and_reset().items()})
        for config in self.trainer.lr_scheduler_configs:  # empty without model.scheduler
            config.scheduler.step()

    def configure_optimizers(self) -> list[dict]:
        """The discriminator's optimizer (and schedule), then the generator's: the order of ``NETWORK_ORDER``."""
        return [
            optimizer_config(getattr(self, name).parameters(), self.optimizer_factory, self.scheduler_factory)
            for name in NETWORK_ORDER
        ]

    def networks(self) -> dict[str, nn.Module]:
        """The trainable networks by name (what ``speed.compile`` compiles)."""
        return {"generator": self.generator, "discriminator": self.discriminator}

    @torch.no_grad()
    def generate(self, z: torch.Tensor) -> torch.Tensor:
        """Generator images as [0, 1] pictures, (B, 1, S, S), with the generator in eval mode."""
        was_training = self.generator.training
        self.generator.eval()
        try:
            images = self.generator(z)
        finally:
            self.generator.train(was_training)
        return self.to_unit_range(images)

    @staticmethod
    def to_unit_range(x: torch.Tensor) -> torch.Tensor:
        """[-1, 1] data-space images as [0, 1] pictures."""
        return x.add(1.0).div_(2.0).clamp_(0.0, 1.0)

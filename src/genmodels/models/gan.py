"""Adversarial training shared by every GAN: the training step, the tricks, sampling and the optimizers.

A GAN here is a generator (z ~ N(0, I) -> images in [-1, 1]) and a discriminator (images -> one logit
each). Subclasses build the two networks (convolutional in ``dcgan.py``, fully connected in
``gan_mlp.py``); this module trains them, one discriminator step then one generator step per batch
(``adversarial_step``, run by Lightning's manual optimization or by a plain loop), each with its own
optimizer built from the same partial optimizer and, when one is configured, its own learning-rate
schedule (stepped here after every epoch, as manual optimization leaves that to the model).

Training tricks, each a switch (both off = the plain minimax GAN of Goodfellow et al. 2014):

* ``non_saturating``: the generator maximises log D(G(z)) instead of minimising log(1 - D(G(z))).
* ``label_smoothing``: soft noisy labels for real images, uniform in ``real_label_range`` (the report's
  [0.7, 1.2]), each replaced with probability ``label_flip_prob`` by a value uniform in [0.0, 0.3].
  Fake labels are always 0. ``real_label_range=[0.9, 0.9]`` with ``label_flip_prob=0`` is the one-sided
  smoothing of Salimans et al. (2016); targets above 1 make the discriminator's cross-entropy unbounded
  below, so it is rewarded for ever more confident logits on real images.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import lightning as L
import torch
from torch import nn

from genmodels.models.epoch_means import EpochMeans
from genmodels.models.losses import discriminator_loss, generator_loss
from genmodels.models.optimization import OptimizerFactory, SchedulerFactory, learning_rates, optimizer_config
from genmodels.validation import ConfigError, require_positive_int, require_probability

# The networks in the order of their optimizers (``training_step`` unpacks them so).
NETWORK_ORDER = ("discriminator", "generator")
SMOOTH_REAL_RANGE = (0.7, 1.2)
FLIPPED_REAL_RANGE = (0.0, 0.3)
# One optimizer step of the named network on the loss the callable computes; returns that loss.
Minimize = Callable[[str, Callable[[], torch.Tensor]], torch.Tensor]


def real_labels(
    batch_size: int,
    smoothing: bool,
    flip_prob: float = 0.05,
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
    real_range: tuple[float, float] = SMOOTH_REAL_RANGE,
) -> torch.Tensor:
    """Discriminator targets for a batch of real images, (batch_size,).

    Without ``smoothing`` all ones. With it, uniform in ``real_range``, and each label is replaced with
    probability ``flip_prob`` by a value uniform in [0.0, 0.3] (the flips belong to the smoothing trick
    and are off with it). Draws come from ``generator`` (on its own device) when given, so they can
    be reproduced; the result is placed on ``device``.
    """
    require_probability("model.label_flip_prob", flip_prob)
    draw_device = generator.device if generator is not None else device
    if not smoothing:
        return torch.ones(batch_size, device=device)
    low, high = real_range
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
        label_smoothing: soft noisy real labels in ``real_label_range``, flipped to [0, 0.3] with ``label_flip_prob``.
        label_flip_prob: probability of a flipped real label when smoothing.
        real_label_range: [low, high] of the smoothed real labels (the report's [0.7, 1.2]; [0.9, 0.9]: one-sided).
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
        real_label_range: Sequence[float] = SMOOTH_REAL_RANGE,
    ) -> None:
        super().__init__()
        require_positive_int("latent", latent_dim)
        low, high = real_label_range
        if not 0.0 <= low <= high:
            raise ConfigError(
                f"model.real_label_range must be [low, high] with 0 <= low <= high, got {real_label_range!r}"
            )
        require_probability("model.label_flip_prob", label_flip_prob)
        self.automatic_optimization = False
        self.latent_dim = latent_dim
        self.non_saturating, self.label_smoothing = non_saturating, label_smoothing
        self.label_flip_prob = label_flip_prob
        self.real_label_range = (float(low), float(high))
        self.optimizer_factory, self.scheduler_factory = optimizer, scheduler
        # Losses, mean D(x) and mean D(G(z)) averaged over each epoch.
        self.epoch_means = EpochMeans(["d_loss", "g_loss", "d_real", "d_fake"])

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """Generated images in [-1, 1] (the data's range)."""
        return self.generator(z)

    def sample_noise(self, count: int) -> torch.Tensor:
        return torch.randn(count, self.latent_dim, device=self.device)

    def adversarial_step(self, x: torch.Tensor, minimize: Minimize) -> dict[str, torch.Tensor]:
        """One discriminator step, then one generator step against the updated discriminator, on real images x.

        ``minimize(network, loss)`` takes one step of that network's optimizer on ``loss()`` (computed inside,
        with only that network trainable) and returns the loss: Lightning's manual optimization in
        ``training_step``, or a plain PyTorch loop. Returns both losses, mean D(x) and mean D(G(z)), detached.
        """
        batch_size = len(x)
        # Generated outside the steps, so the graph reaches the generator for its own step below.
        fake = self.generator(self.sample_noise(batch_size))
        # Discriminator: real images against (soft) real labels, fakes against 0.
        real_logits, fake_logits = self.discriminator(x), self.discriminator(fake.detach())
        targets = real_labels(
            batch_size, self.label_smoothing, self.label_flip_prob, device=x.device, real_range=self.real_label_range
        )
        d_loss = minimize("discriminator", lambda: discriminator_loss(real_logits, fake_logits, targets).mean())
        g_loss = minimize("generator", lambda: generator_loss(self.discriminator(fake), self.non_saturating).mean())
        return {
            "d_loss": d_loss.detach(),
            "g_loss": g_loss.detach(),
            "d_real": torch.sigmoid(real_logits.detach()).mean(),
            "d_fake": torch.sigmoid(fake_logits.detach()).mean(),
        }

    def training_step(self, batch, batch_idx: int) -> dict[str, torch.Tensor]:
        """The adversarial step under Lightning; returns both losses (detached, for callbacks)."""
        x, _ = batch
        metrics = self.adversarial_step(x, self._manual_step)
        self.epoch_means.update(metrics, weight=len(x))
        if batch_idx % self.trainer.log_every_n_steps == 0:  # per-step values are only kept this often anyway
            self.log_dict({f"train_step/{k}": v for k, v in metrics.items()}, prog_bar=True, batch_size=len(x))
        return {"d_loss": metrics["d_loss"], "g_loss": metrics["g_loss"]}

    def _manual_step(self, network: str, loss: Callable[[], torch.Tensor]) -> torch.Tensor:
        """One step of ``network``'s optimizer on ``loss()`` with Lightning's manual optimization."""
        optimizer = self.optimizers()[NETWORK_ORDER.index(network)]
        with self.toggled_optimizer(optimizer):  # only this network's parameters get gradients
            value = loss()
            optimizer.zero_grad(set_to_none=True)
            self.manual_backward(value)
            optimizer.step()
        return value

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

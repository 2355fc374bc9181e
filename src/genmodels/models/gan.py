"""A GAN: a generator and a discriminator, injected by config (``dcgan.py``, ``lean_gan.py``, ``gan_mlp.py``), trained
against each other with manual optimization: per batch one discriminator step, then one generator step. The tricks
(non-saturating loss, label smoothing) and options (two time-scale learning rates, a moving average of the
generator) are explained in docs/models.md."""

from __future__ import annotations

import copy
import functools
from collections.abc import Sequence

import lightning as L
import torch
from torch import nn

from genmodels.errors import ConfigError
from genmodels.models.epoch_means import EpochMeans
from genmodels.models.losses import discriminator_loss, generator_loss
from genmodels.models.networks import describe
from genmodels.models.optimization import OptimizerFactory, SchedulerFactory, learning_rates, optimizer_config

SMOOTH_REAL_RANGE = (0.7, 1.2)
FLIPPED_REAL_RANGE = (0.0, 0.3)


def real_labels(
    batch_size: int,
    smoothing: bool,
    flip_prob: float = 0.05,
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
    real_range: tuple[float, float] = SMOOTH_REAL_RANGE,
) -> torch.Tensor:
    """Discriminator targets for real images, (batch_size,): ones, or with ``smoothing`` uniform in ``real_range``,
    each replaced with probability ``flip_prob`` by one uniform in [0, 0.3]; drawn from ``generator`` if given."""
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
    """A generator ((B, latent_dim) -> images (B, 1, S, S) in [-1, 1]) and a discriminator (images -> float32 logits
    (B,) of "real") trained against each other. ``optimizer`` and ``scheduler`` are partials (Hydra ``_partial_:
    true``) called once per network (``scheduler`` None: a constant rate); ``discriminator_lr`` and ``generator_lr``
    replace the optimizer's ``lr`` (None: keep it); the other options are explained in docs/models.md.
    """

    def __init__(
        self,
        generator: nn.Module,
        discriminator: nn.Module,
        latent_dim: int = 100,
        non_saturating: bool = True,
        label_smoothing: bool = True,
        label_flip_prob: float = 0.05,
        real_label_range: Sequence[float] = SMOOTH_REAL_RANGE,
        optimizer: OptimizerFactory | None = None,
        scheduler: SchedulerFactory | None = None,
        discriminator_lr: float | None = None,
        generator_lr: float | None = None,
        ema_half_life: float | None = None,
        ema_rampup: float | None = None,
    ) -> None:
        super().__init__()
        low, high = real_label_range
        if not 0.0 <= low <= high:
            raise ConfigError(
                f"model.real_label_range must be [low, high] with 0 <= low <= high, got {real_label_range!r}"
            )
        if not 0.0 <= label_flip_prob <= 1.0:
            raise ConfigError(f"model.label_flip_prob must be in [0, 1], got {label_flip_prob!r}")
        for name, lr in (("discriminator_lr", discriminator_lr), ("generator_lr", generator_lr)):
            if lr is not None and not lr > 0:
                raise ConfigError(
                    f"model.{name} must be a positive learning rate, or null (model.optimizer.lr); got {lr}"
                )
        if ema_half_life is not None and ema_half_life <= 0:
            raise ConfigError(f"model.ema_half_life must be a positive number of images, or null; got {ema_half_life}")
        self.save_hyperparameters(ignore=["generator", "discriminator", "optimizer", "scheduler"], logger=False)
        self.hparams.update(generator=describe(generator), discriminator=describe(discriminator))
        self.automatic_optimization = False
        self.generator, self.discriminator = generator, discriminator
        self.generator_ema = copy.deepcopy(generator).requires_grad_(False) if ema_half_life else None
        self.latent_dim = latent_dim
        self.optimizer_factory, self.scheduler_factory = optimizer, scheduler
        self.epoch_means = EpochMeans(["d_loss", "g_loss", "d_real", "d_fake"])

    @property
    def sampler(self) -> nn.Module:
        """The generator that draws samples: the moving average when ``ema_half_life`` is set, else the live one."""
        return self.generator_ema if self.generator_ema is not None else self.generator

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """Generated images in [-1, 1] (the data's range)."""
        return self.sampler(z)

    def sample_noise(self, count: int) -> torch.Tensor:
        return torch.randn(count, self.latent_dim, device=self.device)

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> dict[str, torch.Tensor]:
        """One discriminator step, then one generator step; returns both losses (detached, for callbacks)."""
        x, _ = batch
        d_optimizer, g_optimizer = self.optimizers()
        hp = self.hparams
        fake = self.generator(self.sample_noise(len(x)))

        # Discriminator: real images against (soft) real labels, fakes (detached) against 0.
        with self.toggled_optimizer(d_optimizer):  # only the discriminator's parameters get gradients
            real_logits, fake_logits = self.discriminator(x), self.discriminator(fake.detach())
            targets = real_labels(len(x), hp.label_smoothing, hp.label_flip_prob, None, x.device, hp.real_label_range)
            d_loss = discriminator_loss(real_logits, fake_logits, targets).mean()
            d_optimizer.zero_grad(set_to_none=True)
            self.manual_backward(d_loss)
            d_optimizer.step()

        # Generator: fool the updated discriminator.
        with self.toggled_optimizer(g_optimizer):
            g_loss = generator_loss(self.discriminator(fake), hp.non_saturating).mean()
            g_optimizer.zero_grad(set_to_none=True)
            self.manual_backward(g_loss)
            g_optimizer.step()
        if self.generator_ema is not None:
            self.update_average(len(x), images_seen=self.global_step // 2 * len(x))  # global_step: 2 per batch

        metrics = {
            "d_loss": d_loss.detach(),
            "g_loss": g_loss.detach(),
            "d_real": torch.sigmoid(real_logits.detach()).mean(),
            "d_fake": torch.sigmoid(fake_logits.detach()).mean(),
        }
        self.epoch_means.update(metrics, weight=len(x))
        if batch_idx % self.trainer.log_every_n_steps == 0:  # per-step values are only kept this often anyway
            self.log_dict({f"train_step/{k}": v for k, v in metrics.items()}, prog_bar=True, batch_size=len(x))
        return {"d_loss": metrics["d_loss"], "g_loss": metrics["g_loss"]}

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        """Logs ``val/d_real``: mean D(x) on held-out images (well below ``train/d_real``: D overfits)."""
        x, _ = batch
        self.log("val/d_real", torch.sigmoid(self.discriminator(x)).mean(), batch_size=len(x))

    @torch.no_grad()
    def update_average(self, batch_size: int, images_seen: int | None = None) -> None:
        """Move the averaged generator toward the live one by 1 - 0.5 ** (batch_size / half-life), the half-life
        being ``ema_half_life``, at most ``ema_rampup * images_seen`` when both are given."""
        half_life, rampup = self.hparams.ema_half_life, self.hparams.ema_rampup
        if rampup and images_seen is not None:
            half_life = min(half_life, max(rampup * images_seen, 1e-8))
        weight = 1.0 - 0.5 ** (batch_size / half_life)
        average, live = self.generator_ema.state_dict(), self.generator.state_dict()
        for name, value in average.items():
            if value.is_floating_point():  # weights and BatchNorm's running statistics
                value.lerp_(live[name], weight)
            else:  # BatchNorm's batch counter
                value.copy_(live[name])

    def on_train_epoch_start(self) -> None:
        self.log_dict(learning_rates(dict(zip(("discriminator", "generator"), self.trainer.optimizers))))

    def on_train_epoch_end(self) -> None:
        self.log_dict({f"train/{k}": v for k, v in self.epoch_means.compute_and_reset().items()})
        for config in self.trainer.lr_scheduler_configs:  # empty without model.scheduler
            config.scheduler.step()

    def configure_optimizers(self) -> list[dict]:
        """The discriminator's optimizer (and schedule), then the generator's, as ``training_step`` unpacks them."""
        hp, factory = self.hparams, self.optimizer_factory or torch.optim.Adam
        return [
            optimizer_config(
                network.parameters(),
                factory if lr is None else functools.partial(factory, lr=lr),
                self.scheduler_factory,
            )
            for network, lr in ((self.discriminator, hp.discriminator_lr), (self.generator, hp.generator_lr))
        ]

    def networks(self) -> dict[str, nn.Module]:
        """The trainable networks by name (what ``speed.compile`` compiles)."""
        return {"generator": self.generator, "discriminator": self.discriminator}

    @torch.no_grad()
    def generate(self, z: torch.Tensor) -> torch.Tensor:
        """Samples as [0, 1] pictures, (B, 1, S, S), from ``sampler`` in eval mode."""
        sampler, was_training = self.sampler, self.sampler.training
        sampler.eval()
        try:
            return self.to_unit_range(sampler(z))
        finally:
            sampler.train(was_training)

    @staticmethod
    def to_unit_range(x: torch.Tensor) -> torch.Tensor:
        """[-1, 1] data-space images as [0, 1] pictures."""
        return x.add(1.0).div_(2.0).clamp_(0.0, 1.0)

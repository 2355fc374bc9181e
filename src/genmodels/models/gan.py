"""A GAN: a generator and a discriminator, injected by config (``dcgan.py``, ``lean_gan.py``, ``gan_mlp.py``), trained
against each other with manual optimization under an injected objective (``objectives.py``): per batch one
discriminator step, and every ``n_critic``-th batch also a generator step. The objectives and options (two time-scale
learning rates, a moving average of the generator) are explained in docs/models.md."""

from __future__ import annotations

import copy
import functools
from typing import Any

import lightning as L
import torch
from torch import nn

from genmodels.errors import ConfigError
from genmodels.models.epoch_means import EpochMeans
from genmodels.models.networks import describe
from genmodels.models.objectives import CrossEntropy, Logged, Objective
from genmodels.models.optimization import OptimizerFactory, SchedulerFactory, learning_rates, optimizer_config


class GAN(L.LightningModule):
    """A generator ((B, latent_dim) -> images (B, C, S, S) in [-1, 1]) and a discriminator (images -> float32 scores
    (B,)) trained against each other under ``objective`` (None: the report's cross-entropy), the discriminator
    ``n_critic`` steps per generator step. ``optimizer`` and ``scheduler`` are partials (Hydra ``_partial_: true``)
    called once per network (``scheduler`` None: a constant rate); ``discriminator_lr`` and ``generator_lr`` replace
    the optimizer's ``lr`` (None: keep it); the other options are explained in docs/models.md.
    """

    def __init__(
        self,
        generator: nn.Module,
        discriminator: nn.Module,
        latent_dim: int = 100,
        objective: Objective | None = None,
        n_critic: int = 1,
        optimizer: OptimizerFactory | None = None,
        scheduler: SchedulerFactory | None = None,
        discriminator_lr: float | None = None,
        generator_lr: float | None = None,
        ema_half_life: float | None = None,
        ema_rampup: float | None = None,
    ) -> None:
        super().__init__()
        if not (isinstance(n_critic, int) and n_critic >= 1):
            raise ConfigError(
                f"model.n_critic must be a positive integer (discriminator steps per generator step), got {n_critic!r}"
            )
        for name, lr in (("discriminator_lr", discriminator_lr), ("generator_lr", generator_lr)):
            if lr is not None and not lr > 0:
                raise ConfigError(
                    f"model.{name} must be a positive learning rate, or null (model.optimizer.lr); got {lr}"
                )
        if ema_half_life is not None and ema_half_life <= 0:
            raise ConfigError(f"model.ema_half_life must be a positive number of images, or null; got {ema_half_life}")
        self.objective = objective if objective is not None else CrossEntropy()
        ignored = ["generator", "discriminator", "objective", "optimizer", "scheduler"]
        self.save_hyperparameters(ignore=ignored, logger=False)
        self.hparams.update(
            generator=describe(generator), discriminator=describe(discriminator), objective=self.objective.describe()
        )
        self.automatic_optimization = False
        self.generator, self.discriminator = generator, discriminator
        self.generator_ema = copy.deepcopy(generator).requires_grad_(False) if ema_half_life else None
        self.latent_dim = latent_dim
        self.optimizer_factory, self.scheduler_factory = optimizer, scheduler
        # Created on their first values: the names are the objective's. Per network: each is weighted by its steps.
        self.epoch_means = nn.ModuleDict()
        # Real images seen, and seen at the average's last move; None: from a checkpoint made before the counter.
        self.images_seen: int | None = 0
        self.images_averaged = 0

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
        """One discriminator step, then on every ``n_critic``-th batch one generator step on the same fakes; returns
        the losses taken (detached, for callbacks)."""
        x, _ = batch
        if self.images_seen is None:  # resumed from a checkpoint of one discriminator and one generator step a batch
            self.images_seen = self.images_averaged = self.global_step // 2 * len(x)
        d_optimizer, g_optimizer = self.optimizers()
        generator_turn = (batch_idx + 1) % self.hparams.n_critic == 0
        with torch.set_grad_enabled(generator_turn):  # the fakes' graph is only needed for a generator step
            fake = self.generator(self.sample_noise(len(x)))

        with self.toggled_optimizer(d_optimizer):  # only the discriminator's parameters get gradients
            d_loss, logged = self.objective.discriminator_loss(self.discriminator, x, fake.detach())
            d_optimizer.zero_grad(set_to_none=True)
            self.manual_backward(d_loss)
            d_optimizer.step()
        self.images_seen += len(x)
        self.accumulate("discriminator", logged, len(x))

        if generator_turn:  # fool the updated discriminator
            with self.toggled_optimizer(g_optimizer):
                g_loss, g_logged = self.objective.generator_loss(self.discriminator, fake)
                g_optimizer.zero_grad(set_to_none=True)
                self.manual_backward(g_loss)
                g_optimizer.step()
            if self.generator_ema is not None:
                self.update_average(self.images_seen - self.images_averaged, images_seen=self.images_seen)
                self.images_averaged = self.images_seen
            self.accumulate("generator", g_logged, len(x))
            logged = {**logged, **g_logged}
        if batch_idx % self.trainer.log_every_n_steps == 0:  # per-step values are only kept this often anyway
            self.log_dict({f"train_step/{k}": v for k, v in logged.items()}, prog_bar=True, batch_size=len(x))
        return {name: logged[name] for name in ("d_loss", "g_loss") if name in logged}

    def accumulate(self, network: str, logged: Logged, batch_size: int) -> None:
        """Add one step's logged values to the epoch means of ``network``'s steps."""
        if network not in self.epoch_means:
            self.epoch_means[network] = EpochMeans(list(logged)).to(self.device)
        self.epoch_means[network].update(logged, weight=batch_size)

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        """Logs ``val/d_real``: the discriminator's mean score on held-out images as ``train/d_real`` logs it (with
        the cross-entropy, D(x): well below ``train/d_real``, D overfits)."""
        x, _ = batch
        self.log("val/d_real", self.objective.logged_score(self.discriminator(x)).mean(), batch_size=len(x))

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint["gan_images"] = {"seen": self.images_seen, "averaged": self.images_averaged}

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        counts = checkpoint.get("gan_images", {"seen": None, "averaged": 0})
        self.images_seen, self.images_averaged = counts["seen"], counts["averaged"]

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
        for means in self.epoch_means.values():
            self.log_dict({f"train/{k}": v for k, v in means.compute_and_reset().items()})
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

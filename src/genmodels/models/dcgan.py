"""The DCGAN of the report (section 2): convolutional generator and discriminator, trained with tricks.

Architecture (Radford et al. 2016, as modified in the report): the generator maps z ~ N(0, I) through
transposed convolutions (4x4 at first, then doubling the side) to a tanh image in [-1, 1]; the
discriminator halves the side with strided convolutions down to 4x4, then one 4x4 convolution gives a
single logit. Unlike Radford et al., EVERY convolution except the two output ones is followed by
BatchNorm and LeakyReLU(0.2), in both networks. The number of 2x stages is ``log2(image_size / 4)``.

Training tricks, each a switch (both off = the plain minimax GAN of Goodfellow et al. 2014):

* ``non_saturating``: the generator maximises log D(G(z)) instead of minimising log(1 - D(G(z))).
* ``label_smoothing``: soft noisy labels for real images, uniform in [0.7, 1.2], each replaced with
  probability ``label_flip_prob`` by a value uniform in [0.0, 0.3] (Salimans et al. 2016).
  Fake labels are always 0.

One discriminator step then one generator step per batch (Lightning manual optimization), each with
its own Adam built from the same partial optimizer.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import lightning as L
import torch
from torch import nn

from genmodels.models.epoch_means import EpochMeans
from genmodels.models.losses import discriminator_loss, generator_loss
from genmodels.validation import ConfigError, require_positive_int

OptimizerFactory = Callable[..., torch.optim.Optimizer]

SUPPORTED_IMAGE_SIZES = (32, 64)
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
    if not 0.0 <= flip_prob <= 1.0:
        raise ConfigError(f"model.label_flip_prob must be in [0, 1], got {flip_prob!r}")
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


def init_weights(module: nn.Module) -> None:
    """DCGAN initialisation, for ``net.apply``: conv weights N(0, 0.02); BatchNorm weight N(1, 0.02), bias 0."""
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
        nn.init.normal_(module.weight, 0.0, 0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.BatchNorm2d):
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)


def num_stages(image_size: int) -> int:
    """Number of 2x up-/down-sampling stages between 4x4 and ``image_size`` (3 for 32, 4 for 64)."""
    if image_size not in SUPPORTED_IMAGE_SIZES:
        raise ConfigError(
            f"data.image_size must be one of {list(SUPPORTED_IMAGE_SIZES)} for model=dcgan, got {image_size!r}"
        )
    return int(math.log2(image_size // 4))


def _bn_lrelu(channels: int) -> list[nn.Module]:
    return [nn.BatchNorm2d(channels), nn.LeakyReLU(0.2, inplace=True)]


class Generator(nn.Module):
    """z (B, latent_dim) -> images (B, 1, S, S) in [-1, 1].

    Channels: ``width * 2**(n-1)`` at 4x4, halved at each doubling of the side, 1 at the output
    (``n = log2(S / 4)``; 512-256-128-64 for S = 64 and width 64, as in Radford et al.).
    """

    def __init__(self, latent_dim: int = 100, image_size: int = 64, width: int = 64) -> None:
        super().__init__()
        stages = num_stages(image_size)
        channels = width * 2 ** (stages - 1)
        layers: list[nn.Module] = [nn.ConvTranspose2d(latent_dim, channels, 4, 1, 0, bias=False), *_bn_lrelu(channels)]
        for _ in range(stages - 1):
            layers += [nn.ConvTranspose2d(channels, channels // 2, 4, 2, 1, bias=False), *_bn_lrelu(channels // 2)]
            channels //= 2
        layers += [nn.ConvTranspose2d(channels, 1, 4, 2, 1), nn.Tanh()]
        self.latent_dim, self.image_size = latent_dim, image_size
        self.net = nn.Sequential(*layers)
        self.apply(init_weights)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z.view(len(z), self.latent_dim, 1, 1))


class Discriminator(nn.Module):
    """Images (B, 1, S, S) -> logits (B,) of "real".

    Channels: ``width`` after the first strided convolution, doubled at each halving of the side
    down to 4x4, then one 4x4 convolution to a single logit.
    """

    def __init__(self, image_size: int = 64, width: int = 64) -> None:
        super().__init__()
        stages = num_stages(image_size)
        layers: list[nn.Module] = [nn.Conv2d(1, width, 4, 2, 1, bias=False), *_bn_lrelu(width)]
        channels = width
        for _ in range(stages - 1):
            layers += [nn.Conv2d(channels, channels * 2, 4, 2, 1, bias=False), *_bn_lrelu(channels * 2)]
            channels *= 2
        layers.append(nn.Conv2d(channels, 1, 4, 1, 0))
        self.net = nn.Sequential(*layers)
        self.apply(init_weights)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).flatten().float()  # float32 logits for the losses, also under autocast


class DCGAN(L.LightningModule):
    """DCGAN on single-channel images in [-1, 1] (``data.pixel_range=symmetric``).

    Args:
        latent_dim: size of z (100 in the report).
        image_size: side of the images, 32 or 64 (the report: 64).
        generator_width, discriminator_width: channels of the widest generator layer's last stage and
            of the discriminator's first layer (64 in Radford et al.).
        non_saturating: generator maximises log D(G(z)) (else minimises log(1 - D(G(z)))).
        label_smoothing: soft noisy real labels in [0.7, 1.2], flipped to [0, 0.3] with ``label_flip_prob``.
        label_flip_prob: probability of a flipped real label when smoothing.
        optimizer: a partial optimizer (Hydra ``_partial_: true``), called once per network.
    """

    def __init__(
        self,
        latent_dim: int = 100,
        image_size: int = 64,
        generator_width: int = 64,
        discriminator_width: int = 64,
        non_saturating: bool = True,
        label_smoothing: bool = True,
        label_flip_prob: float = 0.05,
        optimizer: OptimizerFactory | None = None,
    ) -> None:
        super().__init__()
        require_positive_int("latent", latent_dim)
        require_positive_int("model.generator_width", generator_width)
        require_positive_int("model.discriminator_width", discriminator_width)
        num_stages(image_size)
        if not 0.0 <= label_flip_prob <= 1.0:
            raise ConfigError(f"model.label_flip_prob must be in [0, 1], got {label_flip_prob!r}")
        self.save_hyperparameters(ignore=["optimizer"], logger=False)
        self.automatic_optimization = False
        self.latent_dim, self.image_size = latent_dim, image_size
        self.non_saturating, self.label_smoothing = non_saturating, label_smoothing
        self.label_flip_prob = label_flip_prob
        self.optimizer_factory = optimizer or torch.optim.Adam
        self.generator = Generator(latent_dim, image_size, generator_width)
        self.discriminator = Discriminator(image_size, discriminator_width)
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

    def on_train_epoch_end(self) -> None:
        self.log_dict({f"train/{k}": v for k, v in self.epoch_means.compute_and_reset().items()})

    def configure_optimizers(self) -> list[torch.optim.Optimizer]:
        """[discriminator's, generator's], in the order ``training_step`` unpacks them."""
        return [
            self.optimizer_factory(self.discriminator.parameters()),
            self.optimizer_factory(self.generator.parameters()),
        ]

    def networks(self) -> dict[str, nn.Module]:
        """The trainable networks by name (what ``speed.compile`` compiles)."""
        return {"generator": self.generator, "discriminator": self.discriminator}

    # The interface the figure callbacks use: latent_dim, generate, to_unit_range.
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

"""The fully-connected GAN the report compares its DCGAN against (section 2.2).

The classic architecture: the generator maps z (100) through 128 -> 256 -> 512 -> 1024 -> S*S units, with
LeakyReLU(0.2) after every hidden layer and BatchNorm before it on all hidden layers but the first,
and a tanh output; the discriminator maps the S*S pixels through 512 -> 256 -> 1 with LeakyReLU(0.2).
S = 28 (784 pixels) by default. Training is the shared adversarial step of ``gan.py``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from genmodels.models.gan import GAN
from genmodels.models.optimization import OptimizerFactory, SchedulerFactory
from genmodels.validation import require_positive_int, require_positive_ints


class MLPGenerator(nn.Module):
    """z (B, latent_dim) -> images (B, 1, S, S) in [-1, 1]."""

    def __init__(self, latent_dim: int, hidden_dims: Sequence[int], image_size: int) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        for index, (n_in, n_out) in enumerate(zip([latent_dim, *hidden_dims], hidden_dims)):
            layers.append(nn.Linear(n_in, n_out))
            if index > 0:
                layers.append(nn.BatchNorm1d(n_out))
            layers.append(nn.LeakyReLU(0.2, inplace=True))
        layers += [nn.Linear(hidden_dims[-1], image_size * image_size), nn.Tanh()]
        self.image_size = image_size
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z).view(-1, 1, self.image_size, self.image_size)


class MLPDiscriminator(nn.Module):
    """Images (B, 1, S, S) -> logits (B,) of "real"."""

    def __init__(self, image_size: int, hidden_dims: Sequence[int]) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        for n_in, n_out in zip([image_size * image_size, *hidden_dims], hidden_dims):
            layers += [nn.Linear(n_in, n_out), nn.LeakyReLU(0.2, inplace=True)]
        layers.append(nn.Linear(hidden_dims[-1], 1))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x.flatten(start_dim=1)).flatten().float()  # float32 logits for the losses


class MLPGAN(GAN):
    """Fully-connected GAN on single-channel images in [-1, 1] (``data.pixel_range=symmetric``).

    Args:
        latent_dim: size of z (100 in the classic architecture).
        image_size: side of the images (28: 784 pixels).
        generator_dims: hidden widths of the generator, from z towards the image.
        discriminator_dims: hidden widths of the discriminator, from the image towards the logit.
        non_saturating, label_smoothing, label_flip_prob, real_label_range, optimizer, scheduler: the training
            switches of ``GAN``.
    """

    def __init__(
        self,
        latent_dim: int = 100,
        image_size: int = 28,
        generator_dims: Sequence[int] = (128, 256, 512, 1024),
        discriminator_dims: Sequence[int] = (512, 256),
        non_saturating: bool = True,
        label_smoothing: bool = True,
        label_flip_prob: float = 0.05,
        real_label_range: Sequence[float] = (0.7, 1.2),
        optimizer: OptimizerFactory | None = None,
        scheduler: SchedulerFactory | None = None,
    ) -> None:
        super().__init__(
            latent_dim, non_saturating, label_smoothing, label_flip_prob, optimizer, scheduler, real_label_range
        )
        require_positive_int("data.image_size", image_size)
        generator_dims = require_positive_ints("model.generator_dims", generator_dims)
        discriminator_dims = require_positive_ints("model.discriminator_dims", discriminator_dims)
        self.save_hyperparameters(ignore=["optimizer", "scheduler"], logger=False)
        self.image_size = image_size
        self.generator = MLPGenerator(latent_dim, generator_dims, image_size)
        self.discriminator = MLPDiscriminator(image_size, discriminator_dims)

"""What a GAN's two networks minimise (``model.objective``, configs/model/objective/): the report's cross-entropy with
its soft noisy labels, hinge, Wasserstein with a gradient penalty, least squares. The ``GAN`` of ``gan.py`` calls
``discriminator_loss`` on every batch and ``generator_loss`` on every ``n_critic``-th; see docs/models.md."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F

from genmodels.errors import ConfigError

Critic = Callable[[torch.Tensor], torch.Tensor]  # images (B, C, S, S) -> float32 scores (B,)
Logged = dict[str, torch.Tensor]  # scalar tensors by name: logged under train/ and train_step/

SMOOTH_REAL_RANGE = (0.7, 1.2)
FLIPPED_REAL_RANGE = (0.0, 0.3)


class Objective:
    """A GAN objective. A subclass is a dataclass (its fields are its options: the checkpoint records them) and
    gives the two losses as functions of the scores, mean over the batch; ``discriminator_loss`` and
    ``generator_loss`` may be overridden where a loss needs the images too (the gradient penalty)."""

    @property
    def title(self) -> str:
        """Its name in figure titles (a subclass names itself, e.g. ``WGAN-GP``)."""
        return type(self).__name__

    def discriminator_score_loss(self, real_scores: torch.Tensor, fake_scores: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def generator_score_loss(self, fake_scores: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def logged_score(self, scores: torch.Tensor) -> torch.Tensor:
        """What ``d_real`` and ``d_fake`` log of the scores (B,): the raw scores unless a subclass says otherwise."""
        return scores

    def discriminator_loss(self, critic: Critic, real: torch.Tensor, fake: torch.Tensor) -> tuple[torch.Tensor, Logged]:
        """The discriminator's loss on real and (detached) fake images, and what to log of it."""
        real_scores, fake_scores = critic(real), critic(fake)
        loss = self.discriminator_score_loss(real_scores, fake_scores)
        return loss, {
            "d_loss": loss.detach(),
            "d_real": self.logged_score(real_scores.detach()).mean(),
            "d_fake": self.logged_score(fake_scores.detach()).mean(),
        }

    def generator_loss(self, critic: Critic, fake: torch.Tensor) -> tuple[torch.Tensor, Logged]:
        """The generator's loss on fake images (attached to the generator), and what to log of it."""
        loss = self.generator_score_loss(critic(fake))
        return loss, {"g_loss": loss.detach()}

    def describe(self) -> dict:
        """The class and options: what the checkpoint records of the objective."""
        cls = type(self)
        return {"class": f"{cls.__module__}.{cls.__qualname__}", **dataclasses.asdict(self)}


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


@dataclasses.dataclass
class CrossEntropy(Objective):
    """The report's GAN (Goodfellow et al. 2014): scores are logits of "real"; the discriminator's binary
    cross-entropy against soft noisy real labels (``label_smoothing``: uniform in ``real_label_range``, each flipped
    to U[0, 0.3] with ``label_flip_prob``) and 0 for fakes; the generator minimises -log D(G(z)) when
    ``non_saturating``, else log(1 - D(G(z))). ``d_real`` and ``d_fake`` log the probabilities D(x)."""

    title = "cross-entropy"

    non_saturating: bool = True
    label_smoothing: bool = True
    label_flip_prob: float = 0.05
    real_label_range: Sequence[float] = SMOOTH_REAL_RANGE

    def __post_init__(self) -> None:
        self.real_label_range = tuple(float(value) for value in self.real_label_range)
        low, high = self.real_label_range
        if not 0.0 <= low <= high:
            raise ConfigError(
                f"model.objective.real_label_range must be [low, high] with 0 <= low <= high, "
                f"got {list(self.real_label_range)!r}"
            )
        if not 0.0 <= self.label_flip_prob <= 1.0:
            raise ConfigError(f"model.objective.label_flip_prob must be in [0, 1], got {self.label_flip_prob!r}")

    def logged_score(self, scores: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(scores)

    def discriminator_score_loss(self, real_scores: torch.Tensor, fake_scores: torch.Tensor) -> torch.Tensor:
        targets = real_labels(
            len(real_scores), self.label_smoothing, self.label_flip_prob, None, real_scores.device,
            self.real_label_range,
        )  # fmt: skip
        real = F.binary_cross_entropy_with_logits(real_scores, targets, reduction="none")
        fake = F.binary_cross_entropy_with_logits(fake_scores, torch.zeros_like(fake_scores), reduction="none")
        return (real + fake).mean()

    def generator_score_loss(self, fake_scores: torch.Tensor) -> torch.Tensor:
        if self.non_saturating:
            return F.binary_cross_entropy_with_logits(
                fake_scores, torch.ones_like(fake_scores), reduction="none"
            ).mean()
        return -F.softplus(fake_scores).mean()  # log(1 - sigmoid(l)) = -softplus(l)


@dataclasses.dataclass
class Hinge(Objective):
    """The hinge loss (Lim & Ye 2017; Miyato et al. 2018): the discriminator minimises
    E[max(0, 1 - D(x))] + E[max(0, 1 + D(G(z)))], the generator -E[D(G(z))]. Scores are raw."""

    title = "hinge"

    def discriminator_score_loss(self, real_scores: torch.Tensor, fake_scores: torch.Tensor) -> torch.Tensor:
        return F.relu(1.0 - real_scores).mean() + F.relu(1.0 + fake_scores).mean()

    def generator_score_loss(self, fake_scores: torch.Tensor) -> torch.Tensor:
        return -fake_scores.mean()


@dataclasses.dataclass
class LeastSquares(Objective):
    """Least-squares GAN (Mao et al. 2017): the discriminator minimises (E[(D(x) - 1)^2] + E[D(G(z))^2]) / 2, the
    generator E[(D(G(z)) - 1)^2] / 2. Scores are raw."""

    title = "least squares"

    def discriminator_score_loss(self, real_scores: torch.Tensor, fake_scores: torch.Tensor) -> torch.Tensor:
        return 0.5 * ((real_scores - 1.0).pow(2).mean() + fake_scores.pow(2).mean())

    def generator_score_loss(self, fake_scores: torch.Tensor) -> torch.Tensor:
        return 0.5 * (fake_scores - 1.0).pow(2).mean()


def gradient_penalty(critic: Critic, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """E[(|grad D(x_hat)| - 1)^2] over x_hat uniform on the segments between real and fake images (one point per
    pair, Gulrajani et al. 2017), differentiable in the critic's parameters."""
    mix = torch.rand(len(real), *([1] * (real.dim() - 1)), device=real.device, dtype=real.dtype)  # (B, 1, 1, 1)
    between = (mix * real.detach() + (1.0 - mix) * fake.detach()).requires_grad_(True)
    (gradients,) = torch.autograd.grad(critic(between).sum(), between, create_graph=True)
    return (gradients.flatten(start_dim=1).norm(dim=1) - 1.0).pow(2).mean()


@dataclasses.dataclass
class WassersteinGP(Objective):
    """WGAN-GP (Gulrajani et al. 2017): the critic minimises E[D(G(z))] - E[D(x)] + ``gp_weight`` x the gradient
    penalty, the generator -E[D(G(z))]. Logs the raw scores, ``wasserstein`` (E[D(x)] - E[D(G(z))], the critic's
    estimate of the distance) and ``gradient_penalty``. A critic without BatchNorm: the penalty is per image."""

    title = "WGAN-GP"

    gp_weight: float = 10.0

    def __post_init__(self) -> None:
        if self.gp_weight < 0:
            raise ConfigError(f"model.objective.gp_weight must be >= 0, got {self.gp_weight!r}")

    def discriminator_score_loss(self, real_scores: torch.Tensor, fake_scores: torch.Tensor) -> torch.Tensor:
        return fake_scores.mean() - real_scores.mean()

    def generator_score_loss(self, fake_scores: torch.Tensor) -> torch.Tensor:
        return -fake_scores.mean()

    def discriminator_loss(self, critic: Critic, real: torch.Tensor, fake: torch.Tensor) -> tuple[torch.Tensor, Logged]:
        loss, logged = super().discriminator_loss(critic, real, fake)
        penalty = gradient_penalty(critic, real, fake)
        loss = loss + self.gp_weight * penalty
        logged.update(
            d_loss=loss.detach(), wasserstein=logged["d_real"] - logged["d_fake"], gradient_penalty=penalty.detach()
        )
        return loss, logged

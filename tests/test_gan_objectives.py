"""The GAN objectives (models/objectives.py) against hand-written formulas, the gradient penalty against a closed
form, and the step schedule of ``model.n_critic``."""

from __future__ import annotations

import dataclasses
import math
from types import SimpleNamespace

import pytest
import torch
from hydra.utils import instantiate
from torch.optim.optimizer import register_optimizer_step_post_hook

from genmodels.callbacks.base import figure_subject
from genmodels.models.gan import GAN
from genmodels.models.lean_gan import LeanDiscriminator, LeanGenerator
from genmodels.models.objectives import CrossEntropy, Hinge, LeastSquares, WassersteinGP, real_labels
from tests.helpers import image_loader, quiet_trainer, small_dcgan

REAL, FAKE = torch.tensor([1.5, -0.5, 0.2]), torch.tensor([-2.0, 0.3, 1.2])  # scores (B,)


# ---------------------------------------------------------------- cross-entropy and its labels


def test_soft_noisy_real_labels_statistics() -> None:
    n, flip_prob = 200_000, 0.05
    labels = real_labels(n, smoothing=True, flip_prob=flip_prob, generator=torch.Generator().manual_seed(0))
    assert labels.shape == (n,)
    soft, flipped = (labels >= 0.7) & (labels <= 1.2), (labels >= 0.0) & (labels <= 0.3)
    assert bool((soft | flipped).all())  # nothing between 0.3 and 0.7, nothing outside [0, 1.2]
    flip_rate = flipped.float().mean().item()
    assert abs(flip_rate - flip_prob) < 4 * math.sqrt(flip_prob * (1 - flip_prob) / n)
    # uniform on each interval: means at the midpoints, spread of a uniform
    assert labels[soft].mean().item() == pytest.approx(0.95, abs=0.003)
    assert labels[soft].std().item() == pytest.approx(0.5 / math.sqrt(12), rel=0.02)
    assert labels[flipped].mean().item() == pytest.approx(0.15, abs=0.005)
    assert labels[soft].min() < 0.71 and labels[soft].max() > 1.19


def test_real_labels_are_seedable_switchable_and_ranged() -> None:
    def draw(seed: int, n: int = 64, flip: float = 0.05, **options) -> torch.Tensor:
        return real_labels(n, True, flip, generator=torch.Generator().manual_seed(seed), **options)

    assert torch.equal(draw(3), draw(3)) and not torch.equal(draw(3), draw(4))
    assert torch.equal(real_labels(50, smoothing=False, flip_prob=0.05), torch.ones(50))
    assert draw(0, 10_000, 0.0).min() >= 0.7  # none flipped
    assert torch.allclose(draw(0, 1000, 0.0, real_range=(0.9, 0.9)), torch.full((1000,), 0.9))  # one-sided
    wide = draw(0, 20_000, 0.0, real_range=(0.2, 0.6))
    assert wide.min() >= 0.2 and wide.max() <= 0.6 and abs(wide.mean().item() - 0.4) < 0.01


def test_cross_entropy_generator_loss_closed_forms() -> None:
    logits = torch.tensor([-3.0, -0.5, 0.0, 2.0])
    d = torch.sigmoid(logits)
    non_saturating = CrossEntropy(non_saturating=True).generator_score_loss(logits)
    minimax = CrossEntropy(non_saturating=False).generator_score_loss(logits)
    torch.testing.assert_close(non_saturating, -torch.log(d).mean())
    torch.testing.assert_close(minimax, torch.log1p(-d).mean())
    # the reason for the trick: when D rejects fakes (small D), the minimax gradient vanishes
    x = torch.tensor([-6.0], requires_grad=True)
    (g_ns,) = torch.autograd.grad(CrossEntropy(non_saturating=True).generator_score_loss(x), x)
    (g_mm,) = torch.autograd.grad(CrossEntropy(non_saturating=False).generator_score_loss(x), x)
    assert g_ns.abs() > 100 * g_mm.abs()


def test_cross_entropy_discriminator_loss_closed_form() -> None:
    def bce(logit: torch.Tensor, target: torch.Tensor | float) -> torch.Tensor:
        return -(target * torch.log(torch.sigmoid(logit)) + (1 - target) * torch.log(1 - torch.sigmoid(logit)))

    hard = CrossEntropy(label_smoothing=False).discriminator_score_loss(REAL, FAKE)
    torch.testing.assert_close(hard, (bce(REAL, 1.0) + bce(FAKE, 0.0)).mean())
    torch.manual_seed(0)
    soft = CrossEntropy().discriminator_score_loss(REAL, FAKE)
    torch.manual_seed(0)  # the same labels, drawn from the global generator as the objective does
    targets = real_labels(3, True, 0.05, device="cpu")
    torch.testing.assert_close(soft, (bce(REAL, targets) + bce(FAKE, 0.0)).mean())
    # at the equilibrium D = 1/2 with hard labels the loss is log 4 (report, question 2.3)
    zero = torch.zeros(3)
    assert CrossEntropy(label_smoothing=False).discriminator_score_loss(zero, zero).item() == pytest.approx(math.log(4))


def test_cross_entropy_logs_probabilities_the_others_raw_scores() -> None:
    critic = torch.nn.Identity()  # the "images" are their own scores
    _, logged = CrossEntropy(label_smoothing=False).discriminator_loss(critic, REAL, FAKE)
    torch.testing.assert_close(logged["d_real"], torch.sigmoid(REAL).mean())
    torch.testing.assert_close(logged["d_fake"], torch.sigmoid(FAKE).mean())
    loss, logged = Hinge().discriminator_loss(critic, REAL, FAKE)
    assert set(logged) == {"d_loss", "d_real", "d_fake"} and torch.equal(logged["d_loss"], loss)
    torch.testing.assert_close(logged["d_real"], REAL.mean())
    loss, logged = Hinge().generator_loss(critic, FAKE)
    assert logged == {"g_loss": loss}


# ---------------------------------------------------------------- hinge, least squares, Wasserstein


def test_hinge_and_least_squares_losses_match_their_formulas() -> None:
    # hinge: mean max(0, 1 - D(x)) + mean max(0, 1 + D(G(z))); real terms 0, 1.5, 0.8; fake 0, 1.3, 2.2
    assert Hinge().discriminator_score_loss(REAL, FAKE).item() == pytest.approx(2.3 / 3 + 3.5 / 3)
    assert Hinge().generator_score_loss(FAKE).item() == pytest.approx(0.5 / 3)
    # least squares: (mean (D(x) - 1)^2 + mean D(G(z))^2) / 2 and mean (D(G(z)) - 1)^2 / 2
    real_sq, fake_sq = (0.25 + 2.25 + 0.64) / 3, (4.0 + 0.09 + 1.44) / 3
    assert LeastSquares().discriminator_score_loss(REAL, FAKE).item() == pytest.approx((real_sq + fake_sq) / 2)
    assert LeastSquares().generator_score_loss(FAKE).item() == pytest.approx((9.0 + 0.49 + 0.04) / 3 / 2)


@pytest.mark.parametrize("w_norm", [0.5, 1.0, 3.0])
def test_the_gradient_penalty_matches_the_closed_form_of_a_linear_critic(w_norm: float) -> None:
    """D(x) = w . x has gradient w everywhere: the penalty is gp_weight (|w| - 1)^2 whatever the interpolates, and
    its gradient in w is 2 gp_weight (|w| - 1) w / |w|."""
    torch.manual_seed(0)
    direction = torch.randn(1, 4, 4)
    w = (direction * w_norm / direction.norm()).requires_grad_(True)

    def critic(x: torch.Tensor) -> torch.Tensor:
        return (x * w).flatten(start_dim=1).sum(dim=1)

    real, fake = torch.randn(6, 1, 4, 4), torch.randn(6, 1, 4, 4)
    loss, logged = WassersteinGP(gp_weight=10.0).discriminator_loss(critic, real, fake)
    wasserstein = critic(real).mean() - critic(fake).mean()
    penalty = (w_norm - 1.0) ** 2
    assert logged["gradient_penalty"].item() == pytest.approx(penalty, abs=1e-5)
    torch.testing.assert_close(logged["wasserstein"], wasserstein.detach())
    torch.testing.assert_close(loss, -wasserstein + 10.0 * penalty, rtol=1e-5, atol=1e-5)
    (grad,) = torch.autograd.grad(loss, w)
    mean_difference = (fake.mean(0) - real.mean(0)).squeeze(0)  # the gradient of -wasserstein in w
    expected = mean_difference + 20.0 * (w_norm - 1.0) * w.detach() / w_norm
    torch.testing.assert_close(grad, expected, rtol=1e-4, atol=1e-5)
    assert WassersteinGP().generator_score_loss(FAKE).item() == pytest.approx(-FAKE.mean().item())


def test_the_checkpoint_records_the_objective_and_its_options_only() -> None:
    hparams = small_dcgan(objective=WassersteinGP(gp_weight=5.0), n_critic=5).hparams
    assert hparams["objective"] == {"class": "genmodels.models.objectives.WassersteinGP", "gp_weight": 5.0}
    assert hparams["n_critic"] == 5 and not {"label_smoothing", "label_flip_prob", "real_label_range"} & set(hparams)
    default = small_dcgan().hparams["objective"]
    assert default == {"class": "genmodels.models.objectives.CrossEntropy", **dataclasses.asdict(CrossEntropy())}
    assert default["real_label_range"] == (0.7, 1.2)


# ---------------------------------------------------------------- the step schedule


def count_steps(model: GAN, batches: int) -> tuple[int, int]:
    """Fit ``model`` for one epoch of ``batches`` batches of 8 random images; (discriminator, generator) steps."""
    counts = {id(model.discriminator): 0, id(model.generator): 0}
    owners = {id(p): id(net) for net in (model.discriminator, model.generator) for p in net.parameters()}

    def count(optimizer, args, kwargs) -> None:
        counts[owners[id(optimizer.param_groups[0]["params"][0])]] += 1

    handle = register_optimizer_step_post_hook(count)
    try:
        side = 28 if "lean" in type(model.generator).__module__ else 32
        images = torch.rand(8 * batches, 1, side, side) * 2 - 1
        trainer = quiet_trainer(max_epochs=1)
        trainer.fit(model, train_dataloaders=image_loader(images, 8))
    finally:
        handle.remove()
    assert trainer.global_step == sum(counts.values())
    return counts[id(model.discriminator)], counts[id(model.generator)]


def test_wgan_gp_takes_five_critic_steps_per_generator_step(train_config) -> None:
    narrow = [f"model.{net}.{option}" for net in ("generator", "discriminator") for option in ("width=4", "hidden=16")]
    cfg = train_config(["model=wgan_gp", *narrow, "model.ema_half_life=1000"])
    torch.manual_seed(0)
    model = instantiate(cfg.model, _convert_="all")
    assert isinstance(model.objective, WassersteinGP) and model.hparams.n_critic == 5
    moves = []  # (images the average moves by, images seen) at each of its updates
    update_average = model.update_average
    model.update_average = lambda count, images_seen: (
        moves.append((count, images_seen)) or update_average(count, images_seen=images_seen)
    )
    assert count_steps(model, batches=10) == (10, 2)  # 12 optimizer steps: critic on every batch, generator 5th
    assert moves == [(40, 40), (40, 80)] and model.images_seen == 80  # the average counts every image seen


def test_n_critic_one_takes_a_generator_step_per_batch() -> None:
    model = small_dcgan(ema_half_life=100)
    assert count_steps(model, batches=3) == (3, 3)
    assert model.images_seen == 24


@pytest.mark.parametrize(
    ("objective", "kind"),
    [
        (None, "lean_gan"),
        (CrossEntropy(non_saturating=False), "lean_gan"),
        (WassersteinGP(), "lean_gan, WGAN-GP"),
        (Hinge(), "lean_gan, hinge"),
        (LeastSquares(), "lean_gan, least squares"),
    ],
)
def test_figure_titles_name_an_objective_other_than_the_default_cross_entropy(objective, kind) -> None:
    networks = LeanGenerator(8, 28, width=4, hidden=16), LeanDiscriminator(28, width=4, hidden=16)
    gan = GAN(*networks, 8, objective=objective)
    trainer = SimpleNamespace(datamodule=SimpleNamespace(image_size=28), current_epoch=3)
    assert figure_subject(trainer, gan) == f"GAN ({kind}), latent 8, 28×28, 3 epochs, live generator"

"""The DCGAN: architecture, initialisation, label noise, losses, training steps and the CLI."""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import lightning as L
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from genmodels.errors import ConfigError
from genmodels.models.dcgan import Discriminator, Generator, init_weights
from genmodels.models.gan import GAN, real_labels
from genmodels.models.losses import discriminator_loss, generator_loss
from genmodels.train import train
from tests.helpers import small_dcgan


def tiny_trainer(**kwargs) -> L.Trainer:
    return L.Trainer(
        accelerator="cpu",
        devices=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        **kwargs,
    )


def image_loader(images: torch.Tensor, batch_size: int) -> DataLoader:
    dataset = TensorDataset(images, torch.zeros(len(images), dtype=torch.long))
    return DataLoader(dataset, batch_size=batch_size, shuffle=False)


# ---------------------------------------------------------------- architecture


@pytest.mark.parametrize("image_size", [32, 64])
@pytest.mark.parametrize("latent_dim", [2, 100])
def test_output_shapes(image_size: int, latent_dim: int) -> None:
    generator, discriminator = Generator(latent_dim, image_size, width=8), Discriminator(image_size, width=8)
    images = generator(torch.randn(3, latent_dim))
    assert images.shape == (3, 1, image_size, image_size)
    assert images.min() >= -1 and images.max() <= 1  # tanh
    assert discriminator(images).shape == (3,)


@pytest.mark.parametrize("image_size, stages", [(32, 3), (64, 4)])
def test_every_hidden_conv_is_followed_by_batchnorm_and_leaky_relu(image_size: int, stages: int) -> None:
    for net in (Generator(100, image_size, width=8), Discriminator(image_size, width=8)):
        layers = list(net.net)
        convs = [i for i, layer in enumerate(layers) if isinstance(layer, (nn.Conv2d, nn.ConvTranspose2d))]
        assert len(convs) == stages + 1  # stages of 2x plus the 4x4 <-> 1x1 one
        for i in convs[:-1]:
            assert isinstance(layers[i + 1], nn.BatchNorm2d), (type(net).__name__, i)
            assert layers[i + 1].num_features == layers[i].out_channels
            assert isinstance(layers[i + 2], nn.LeakyReLU)
            assert layers[i + 2].negative_slope == pytest.approx(0.2)
        output = convs[-1]
        assert layers[output].out_channels == 1
        assert not any(isinstance(layer, nn.BatchNorm2d) for layer in layers[output:])
    generator = Generator(100, image_size, width=8)
    assert isinstance(generator.net[-1], nn.Tanh)


def test_widths_follow_radford() -> None:
    generator, discriminator = Generator(100, 64, width=64), Discriminator(64, width=64)
    g_channels = [m.out_channels for m in generator.net if isinstance(m, nn.ConvTranspose2d)]
    d_channels = [m.out_channels for m in discriminator.net if isinstance(m, nn.Conv2d)]
    assert g_channels == [512, 256, 128, 64, 1]
    assert d_channels == [64, 128, 256, 512, 1]


@pytest.mark.parametrize("image_size", [28, 16, 128])
def test_unsupported_image_size_is_refused(image_size: int) -> None:
    with pytest.raises(ConfigError, match=r"data\.image_size.*\[32, 64\]"):
        Generator(image_size=image_size)
    with pytest.raises(ConfigError, match=r"data\.image_size.*\[32, 64\]"):
        Discriminator(image_size=image_size)


def test_weight_init() -> None:
    torch.manual_seed(0)
    generator, discriminator = Generator(100, 64, width=32), Discriminator(64, width=32)
    conv_weights = torch.cat(
        [
            m.weight.detach().flatten()
            for net in (generator, discriminator)
            for m in net.modules()
            if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))
        ]
    )
    assert conv_weights.mean().abs() < 1e-3
    assert conv_weights.std().item() == pytest.approx(0.02, rel=0.02)
    norms = [m for net in (generator, discriminator) for m in net.modules() if isinstance(m, nn.BatchNorm2d)]
    bn_weights = torch.cat([m.weight.detach() for m in norms])
    assert bn_weights.mean().item() == pytest.approx(1.0, abs=0.005)
    assert bn_weights.std().item() == pytest.approx(0.02, rel=0.15)
    assert all(torch.equal(m.bias, torch.zeros_like(m.bias)) for m in norms)
    # init_weights is an idempotent ``apply`` function: re-applying re-draws from the same law
    layer = nn.Conv2d(8, 8, 3, bias=True)
    nn.init.constant_(layer.weight, 5.0)
    nn.init.constant_(layer.bias, 5.0)
    init_weights(layer)
    assert layer.weight.abs().max() < 0.2 and torch.equal(layer.bias, torch.zeros(8))


# ---------------------------------------------------------------- labels and losses


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


def test_real_labels_are_seedable_and_switchable() -> None:
    draw = lambda seed: real_labels(64, True, 0.05, generator=torch.Generator().manual_seed(seed))  # noqa: E731
    assert torch.equal(draw(3), draw(3))
    assert not torch.equal(draw(3), draw(4))
    assert torch.equal(real_labels(50, smoothing=False, flip_prob=0.05), torch.ones(50))
    none_flipped = real_labels(10_000, True, 0.0, generator=torch.Generator().manual_seed(0))
    assert none_flipped.min() >= 0.7


def test_generator_loss_closed_forms() -> None:
    logits = torch.tensor([-3.0, -0.5, 0.0, 2.0])
    d = torch.sigmoid(logits)
    non_saturating = generator_loss(logits, non_saturating=True)
    minimax = generator_loss(logits, non_saturating=False)
    torch.testing.assert_close(non_saturating, -torch.log(d))
    torch.testing.assert_close(minimax, torch.log1p(-d))
    assert non_saturating[2].item() == pytest.approx(math.log(2))
    assert minimax[2].item() == pytest.approx(-math.log(2))
    # the reason for the trick: when D rejects fakes (small D), the minimax gradient vanishes
    x = torch.tensor(-6.0, requires_grad=True)
    (g_ns,) = torch.autograd.grad(generator_loss(x, True), x)
    (g_mm,) = torch.autograd.grad(generator_loss(x, False), x)
    assert g_ns.abs() > 100 * g_mm.abs()


def test_discriminator_loss_closed_form() -> None:
    real, fake = torch.tensor([1.0, -2.0]), torch.tensor([0.5, -1.0])
    targets = torch.tensor([0.9, 1.1])
    expected = -(targets * torch.log(torch.sigmoid(real)) + (1 - targets) * torch.log(1 - torch.sigmoid(real)))
    expected = expected - torch.log(1 - torch.sigmoid(fake))
    torch.testing.assert_close(discriminator_loss(real, fake, targets), expected)
    # at the equilibrium D = 1/2 with hard labels the loss is log 4 (report, question 2.3)
    zero = torch.zeros(3)
    torch.testing.assert_close(discriminator_loss(zero, zero, torch.ones(3)), torch.full((3,), math.log(4)))


# ---------------------------------------------------------------- training


@pytest.mark.parametrize("tricks", [True, False])
def test_one_training_step_updates_both_networks(tricks: bool) -> None:
    torch.manual_seed(0)
    model = small_dcgan(latent_dim=8, non_saturating=tricks, label_smoothing=tricks)
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    images = torch.rand(16, 1, 32, 32) * 2 - 1
    trainer = tiny_trainer(max_epochs=1, limit_train_batches=1)
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message=".*no `validation_step`")  # the GAN validates: no such warning
        trainer.fit(model, train_dataloaders=image_loader(images, 16), val_dataloaders=image_loader(images, 16))
    for prefix in ("generator.", "discriminator."):
        changed = [not torch.equal(before[n], p) for n, p in model.named_parameters() if n.startswith(prefix)]
        assert changed and all(changed), prefix  # every tensor of both networks moved
    assert trainer.global_step == 2  # one discriminator step and one generator step
    for key in ("d_loss", "g_loss", "d_real", "d_fake"):
        assert torch.isfinite(trainer.callback_metrics[f"train_step/{key}"])  # logged at step 0
        assert torch.isfinite(trainer.callback_metrics[f"train/{key}"])  # the epoch mean
    assert 0 < trainer.callback_metrics["train/d_real"] < 1
    assert 0 < trainer.callback_metrics["val/d_real"] < 1  # the discriminator on held-out images


def test_non_finite_losses_stop_training() -> None:
    from genmodels.callbacks.safety import FiniteLossGuard, TrainingDiverged

    model = small_dcgan()
    images = torch.full((8, 1, 32, 32), float("nan"))
    with pytest.raises(TrainingDiverged, match="d_loss"):
        tiny_trainer(max_epochs=1, callbacks=[FiniteLossGuard()]).fit(model, train_dataloaders=image_loader(images, 8))


def test_generate_is_unit_range_and_keeps_mode() -> None:
    model = small_dcgan()
    model.train()
    z = torch.randn(5, 4)
    with torch.enable_grad():
        images = model.generate(z)
    assert images.shape == (5, 1, 32, 32) and not images.requires_grad
    assert images.min() >= 0 and images.max() <= 1
    assert model.generator.training  # restored
    model.eval()
    torch.testing.assert_close(model.generate(z), model.generate(z))  # eval BN: deterministic
    assert not model.generator.training
    torch.testing.assert_close(GAN.to_unit_range(torch.tensor([-1.0, 0.0, 1.0])), torch.tensor([0.0, 0.5, 1.0]))


# ---------------------------------------------------------------- a run


def test_fast_dev_run_draws_the_gan_figures(train_config) -> None:
    """In this process: the DCGAN's training command runs in the README's test and in test_scale_out."""
    cfg = train_config(
        [
            "model=dcgan",
            "data.image_size=32",
            "trainer.fast_dev_run=true",
            "data.batch_size=16",
            "model.generator.width=8",
            "model.discriminator.width=8",
        ]
    )
    train(cfg)
    figures = Path(cfg.paths.output_dir) / "figures"
    assert list((figures / "samples").glob("epoch_*_mean.png"))
    assert (figures / "interpolation.png").stat().st_size > 0
    assert not (figures / "reconstructions.png").exists()  # left out by the model config: no encoder


def test_one_sided_smoothing_gives_constant_real_labels_and_bad_ranges_are_refused() -> None:
    one_sided = real_labels(1000, True, 0.0, generator=torch.Generator().manual_seed(0), real_range=(0.9, 0.9))
    assert torch.allclose(one_sided, torch.full((1000,), 0.9))
    wide = real_labels(20_000, True, 0.0, generator=torch.Generator().manual_seed(0), real_range=(0.2, 0.6))
    assert wide.min() >= 0.2 and wide.max() <= 0.6 and abs(wide.mean().item() - 0.4) < 0.01
    with pytest.raises(ConfigError, match=r"model.real_label_range must be \[low, high\] with 0 <= low <= high"):
        small_dcgan(real_label_range=(1.0, 0.5))

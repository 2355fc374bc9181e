"""The GAN's options for quality per unit of compute: the lean networks, the generator's moving average,
two time-scale learning rates; the discriminators' normalization and the networks' image channels."""

from __future__ import annotations

import hydra
import pytest
import torch
from torch import nn
from torch.nn.utils import parametrize

from genmodels.errors import ConfigError
from genmodels.models.dcgan import Discriminator, Generator
from genmodels.models.gan import GAN
from genmodels.models.gan_mlp import MLPDiscriminator, MLPGenerator
from genmodels.models.lean_gan import LeanDiscriminator, LeanGenerator
from genmodels.models.normalization import NORMS
from tests.helpers import image_loader, quiet_trainer


def lean_gan(**options) -> GAN:
    return GAN(LeanGenerator(8, 28, width=4, hidden=16), LeanDiscriminator(28, width=4, hidden=16), 8, **options)


def test_lean_networks_shapes_ranges_and_sizes() -> None:
    generator, discriminator = LeanGenerator(), LeanDiscriminator()
    images = generator(torch.randn(3, 64))
    assert images.shape == (3, 1, 28, 28) and images.min() >= -1 and images.max() <= 1
    assert discriminator(images).shape == (3,) and discriminator(images).dtype == torch.float32
    convs = [m for m in discriminator.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [(c.in_channels, c.out_channels) for c in convs] == [(1, 64), (64, 128)]  # Lucic et al.'s widths
    assert LeanGenerator(8, 32, width=4, hidden=16)(torch.randn(2, 8)).shape == (2, 1, 32, 32)
    with pytest.raises(ConfigError, match="multiple of 4"):
        LeanDiscriminator(30)


def test_the_average_moves_toward_the_live_generator_at_the_configured_rate() -> None:
    model = lean_gan(ema_half_life=1000)
    assert model.sampler is model.generator_ema
    live, average = model.generator.state_dict(), model.generator_ema.state_dict()
    with torch.no_grad():
        for value in live.values():
            if value.is_floating_point():
                value.add_(torch.rand_like(value))  # the live generator takes a step (weights and statistics)
    old = {name: value.clone() for name, value in average.items()}
    model.update_average(batch_size=500)  # half a half-life: the gap shrinks by 2 ** -0.5
    for name, value in average.items():
        if value.is_floating_point():
            assert not torch.equal(value, live[name]), name
            expected_gap = (live[name] - old[name]) * 2**-0.5
            torch.testing.assert_close(live[name] - value, expected_gap, rtol=1e-4, atol=1e-6)
    z = torch.randn(4, 8)
    model.generator_ema.eval()
    torch.testing.assert_close(model.generate(z), model.to_unit_range(model.generator_ema(z)))


def test_the_rampup_caps_the_half_life_early_in_training() -> None:
    model = lean_gan(ema_half_life=1000, ema_rampup=0.05)
    live, average = model.generator.state_dict(), model.generator_ema.state_dict()
    weight = "net.0.weight"
    for images_seen, half_life in ((2_000, 100), (100_000, 1000)):  # 5 % of the images seen, at most 1000
        with torch.no_grad():
            live[weight].add_(1.0)
        gap = live[weight] - average[weight]
        model.update_average(batch_size=100, images_seen=images_seen)
        torch.testing.assert_close(live[weight] - average[weight], gap * 0.5 ** (100 / half_life))


def test_training_updates_the_average_and_it_is_checkpointed(tmp_path) -> None:
    torch.manual_seed(0)
    model = lean_gan(ema_half_life=200)
    start = {name: p.clone() for name, p in model.generator_ema.named_parameters()}
    trainer = quiet_trainer(max_epochs=1)
    trainer.fit(model, train_dataloaders=image_loader(torch.rand(64, 1, 28, 28) * 2 - 1, 16))
    for name, p in model.generator_ema.named_parameters():
        assert not p.requires_grad and not torch.equal(p, start[name]), name
        assert not torch.equal(p, dict(model.generator.named_parameters())[name]), name
    trainer.save_checkpoint(tmp_path / "gan.ckpt")
    checkpoint = torch.load(tmp_path / "gan.ckpt", weights_only=True)
    assert checkpoint["gan_images"] == {"seen": 64, "averaged": 64}  # the average's image counter, to resume
    restored = lean_gan(ema_half_life=200)
    restored.load_state_dict(checkpoint["state_dict"])
    restored.on_load_checkpoint(checkpoint)
    assert restored.images_seen == 64
    restored.on_load_checkpoint({})  # made before the counter: counted from the steps at the first batch
    assert restored.images_seen is None
    z = torch.randn(4, 8)
    torch.testing.assert_close(restored.generate(z), model.generate(z))
    plain = lean_gan()
    assert plain.generator_ema is None and plain.sampler is plain.generator


def test_the_two_learning_rates_reach_the_two_optimizers(train_config) -> None:
    cfg = train_config(["experiment=cpu_gan", "model.discriminator_lr=4e-4", "model.generator_lr=1e-4"])
    model = hydra.utils.instantiate(cfg.model, _convert_="all")
    (d_optimizer, g_optimizer) = [entry["optimizer"] for entry in model.configure_optimizers()]
    assert d_optimizer.param_groups[0]["lr"] == cfg.model.discriminator_lr == 4e-4
    assert g_optimizer.param_groups[0]["lr"] == cfg.model.generator_lr == 1e-4
    assert d_optimizer.param_groups[0]["params"] == list(model.discriminator.parameters())
    assert d_optimizer.param_groups[0]["betas"] == g_optimizer.param_groups[0]["betas"] == (0.5, 0.999)
    plain = hydra.utils.instantiate(train_config(["model=lean_gan"]).model, _convert_="all")
    assert {entry["optimizer"].param_groups[0]["lr"] for entry in plain.configure_optimizers()} == {2e-4}
    cpu_gan = hydra.utils.instantiate(train_config(["experiment=cpu_gan"]).model, _convert_="all")
    assert {entry["optimizer"].param_groups[0]["lr"] for entry in cpu_gan.configure_optimizers()} == {8e-4}


# ---------------------------------------------------------------- the discriminators' norm and channels


def discriminators(norm: str) -> list[tuple[nn.Module, int]]:
    """The lean and DCGAN discriminators, narrow, with ``norm``; each with its image side."""
    return [(LeanDiscriminator(28, width=4, hidden=16, norm=norm), 28), (Discriminator(32, width=4, norm=norm), 32)]


@pytest.mark.parametrize("norm", NORMS)
def test_each_norm_builds_the_layers_it_names(norm: str) -> None:
    torch.manual_seed(0)
    for discriminator, side in discriminators(norm):
        x = torch.randn(6, 1, side, side)
        assert discriminator(x).shape == (6,)
        kinds = {type(m) for m in discriminator.modules()}
        assert (nn.BatchNorm2d in kinds) == (norm == "batch") and (nn.GroupNorm in kinds) == (norm == "layer")
        layers = [m for m in discriminator.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
        assert all(parametrize.is_parametrized(m, "weight") == (norm == "spectral") for m in layers)
        if norm != "batch":  # each image's score depends on that image alone: what a per-image penalty needs
            discriminator.eval()  # (spectral norm's power iteration would move between the calls)
            torch.testing.assert_close(discriminator(x)[:2], discriminator(x[:2]))


def test_spectral_norm_makes_each_layer_1_lipschitz() -> None:
    discriminator, side = discriminators("spectral")[0]
    for _ in range(50):  # each training-mode forward pass takes one power iteration
        discriminator(torch.randn(2, 1, side, side))
    for layer in (m for m in discriminator.modules() if isinstance(m, (nn.Conv2d, nn.Linear))):
        largest = torch.linalg.matrix_norm(layer.weight.detach().flatten(start_dim=1), ord=2)
        assert largest.item() == pytest.approx(1.0, abs=0.01)


def test_channels_and_a_wrong_norm() -> None:
    z = torch.randn(2, 8)
    for generator, discriminator in (
        (LeanGenerator(8, 28, width=4, hidden=16, channels=3), LeanDiscriminator(28, 4, 16, channels=3)),
        (Generator(8, 32, width=4, channels=3), Discriminator(32, width=4, channels=3)),
        (MLPGenerator(8, [16], 28, channels=3), MLPDiscriminator(28, [16], channels=3)),
    ):
        images = generator(z)
        assert images.shape[:2] == (2, 3) and discriminator(images).shape == (2,)
    with pytest.raises(ConfigError, match="model.discriminator.norm must be one of batch, layer, spectral, none"):
        LeanDiscriminator(norm="instance")

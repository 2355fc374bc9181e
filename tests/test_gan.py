"""The GAN with its two kinds of injected networks (``model=dcgan``: convolutional, ``model=gan_mlp``: fully
connected): architectures, initialisation, label noise, losses, training steps and a run."""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path

import lightning as L
import pytest
import torch
from hydra.utils import instantiate
from torch import nn

from genmodels.callbacks.safety import FiniteLossGuard, TrainingDiverged
from genmodels.data import MNISTDataModule
from genmodels.errors import ConfigError
from genmodels.models.dcgan import Discriminator, Generator, init_weights
from genmodels.models.gan import GAN
from genmodels.models.gan_mlp import MLPDiscriminator, MLPGenerator
from genmodels.models.objectives import CrossEntropy
from genmodels.runs.checkpoints import CheckpointError, check_same_model
from genmodels.runs.legacy import upgrade_model_config, upgrade_overrides
from genmodels.train import train
from tests.helpers import QUICK_CLASSIFIER, image_loader, quiet_trainer, short_run, small_dcgan


def mlp_gan(latent_dim: int = 4, generator_dims=(32, 64), discriminator_dims=(64, 32), **options) -> GAN:
    """The networks of ``model=gan_mlp`` (narrow) in the GAN, as the config builds them."""
    return GAN(
        MLPGenerator(latent_dim, generator_dims), MLPDiscriminator(28, discriminator_dims), latent_dim, **options
    )


GANS = {"dcgan": (small_dcgan, 32), "mlp": (mlp_gan, 28)}  # builder, image size


# ---------------------------------------------------------------- architectures


@pytest.mark.parametrize("name", GANS)
def test_shapes_ranges_and_generate(name: str) -> None:
    build, size = GANS[name]
    model = build()
    images = model.generator(torch.randn(5, 4))
    assert images.shape == (5, 1, size, size) and images.min() >= -1 and images.max() <= 1  # tanh
    logits = model.discriminator(images)
    assert logits.shape == (5,) and logits.dtype == torch.float32
    model.train()
    z = torch.randn(5, 4)
    with torch.enable_grad():
        pictures = model.generate(z)
    assert pictures.shape == (5, 1, size, size) and not pictures.requires_grad
    assert pictures.min() >= 0 and pictures.max() <= 1 and model.generator.training  # mode restored
    model.eval()
    torch.testing.assert_close(model.generate(z), model.generate(z))  # eval BatchNorm: deterministic
    assert not model.generator.training
    torch.testing.assert_close(GAN.to_unit_range(torch.tensor([-1.0, 0.0, 1.0])), torch.tensor([0.0, 0.5, 1.0]))


@pytest.mark.parametrize("image_size, stages", [(32, 3), (64, 4)])
def test_every_hidden_dcgan_conv_is_followed_by_batchnorm_and_leaky_relu(image_size: int, stages: int) -> None:
    latent = 2 if image_size == 32 else 100
    images = Generator(latent, image_size, width=8)(torch.randn(3, latent))
    assert images.shape == (3, 1, image_size, image_size) and Discriminator(image_size, 8)(images).shape == (3,)
    assert MLPGenerator(latent_dim=8, image_size=image_size)(torch.randn(2, 8)).shape == (2, 1, image_size, image_size)
    for net in (Generator(100, image_size, width=8), Discriminator(image_size, width=8)):
        layers = list(net.net)
        convs = [i for i, layer in enumerate(layers) if isinstance(layer, (nn.Conv2d, nn.ConvTranspose2d))]
        assert len(convs) == stages + 1  # stages of 2x plus the 4x4 <-> 1x1 one
        for i in convs[:-1]:
            norm, act = layers[i + 1], layers[i + 2]
            assert isinstance(norm, nn.BatchNorm2d) and norm.num_features == layers[i].out_channels
            assert isinstance(act, nn.LeakyReLU) and act.negative_slope == pytest.approx(0.2)
        assert layers[convs[-1]].out_channels == 1
        assert not any(isinstance(layer, nn.BatchNorm2d) for layer in layers[convs[-1] :])
    assert isinstance(Generator(100, image_size, width=8).net[-1], nn.Tanh)


def test_dcgan_widths_follow_radford() -> None:
    generator, discriminator = Generator(100, 64, width=64), Discriminator(64, width=64)
    assert [m.out_channels for m in generator.net if isinstance(m, nn.ConvTranspose2d)] == [512, 256, 128, 64, 1]
    assert [m.out_channels for m in discriminator.net if isinstance(m, nn.Conv2d)] == [64, 128, 256, 512, 1]


def test_mlp_gan_has_the_classic_architecture() -> None:
    generator = list(MLPGenerator(100, [128, 256, 512, 1024], 28).net)
    linears = [(m.in_features, m.out_features) for m in generator if isinstance(m, nn.Linear)]
    assert linears == [(100, 128), (128, 256), (256, 512), (512, 1024), (1024, 784)]
    assert [type(layer).__name__ for layer in generator] == [
        *["Linear", "LeakyReLU"],  # no BatchNorm after the first hidden layer
        *["Linear", "BatchNorm1d", "LeakyReLU"] * 3,
        *["Linear", "Tanh"],
    ]
    discriminator = list(MLPDiscriminator(28, [512, 256]).net)
    assert [type(layer).__name__ for layer in discriminator] == ["Linear", "LeakyReLU"] * 2 + ["Linear"]
    linears = [(m.in_features, m.out_features) for m in discriminator if isinstance(m, nn.Linear)]
    assert linears == [(784, 512), (512, 256), (256, 1)]
    slopes = {layer.negative_slope for layer in generator + discriminator if isinstance(layer, nn.LeakyReLU)}
    assert slopes == {0.2}


@pytest.mark.parametrize(
    "build, message",
    [
        (lambda: Generator(image_size=28), r"data\.image_size.*\[32, 64\]"),
        (lambda: Discriminator(image_size=128), r"data\.image_size.*\[32, 64\]"),
        (lambda: MLPGenerator(hidden_dims=[]), "model.generator.hidden_dims"),
        (lambda: MLPDiscriminator(hidden_dims=[0]), "model.discriminator.hidden_dims"),
        (lambda: CrossEntropy(label_flip_prob=2), "model.objective.label_flip_prob"),
        (lambda: CrossEntropy(real_label_range=(1.0, 0.5)), r"real_label_range must be \[low, high\] with 0 <= low"),
        (lambda: small_dcgan(ema_half_life=0), "model.ema_half_life"),
    ],
)
def test_bad_options_are_refused(build, message) -> None:
    with pytest.raises(ConfigError, match=message):
        build()


def test_dcgan_weight_init() -> None:
    torch.manual_seed(0)
    nets = (Generator(100, 64, width=32), Discriminator(64, width=32))
    convs = [m for net in nets for m in net.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))]
    conv_weights = torch.cat([m.weight.detach().flatten() for m in convs])
    assert conv_weights.mean().abs() < 1e-3 and conv_weights.std().item() == pytest.approx(0.02, rel=0.02)
    norms = [m for net in nets for m in net.modules() if isinstance(m, nn.BatchNorm2d)]
    bn_weights = torch.cat([m.weight.detach() for m in norms])
    assert bn_weights.mean().item() == pytest.approx(1.0, abs=0.005)
    assert bn_weights.std().item() == pytest.approx(0.02, rel=0.15)
    assert all(torch.equal(m.bias, torch.zeros_like(m.bias)) for m in norms)
    layer = nn.Conv2d(8, 8, 3, bias=True)  # re-applying init_weights re-draws from the same law
    nn.init.constant_(layer.weight, 5.0)
    nn.init.constant_(layer.bias, 5.0)
    init_weights(layer)
    assert layer.weight.abs().max() < 0.2 and torch.equal(layer.bias, torch.zeros(8))


def test_checkpoint_records_the_networks_and_loads_weights_only(tmp_path) -> None:
    model = mlp_gan(16, [8], [8])
    fit = quiet_trainer()
    fit.strategy.connect(model)
    fit.save_checkpoint(tmp_path / "gan.ckpt", weights_only=True)
    saved = torch.load(tmp_path / "gan.ckpt", weights_only=True)["hyper_parameters"]
    weights = 784 * 8 + 8 + 8 + 1
    assert saved["discriminator"] == {"class": "genmodels.models.gan_mlp.MLPDiscriminator", "parameters": weights}
    check_same_model(saved, model.hparams, source="test")
    with pytest.raises(CheckpointError, match=r"differs in \['generator'\]"):
        check_same_model(saved, mlp_gan(16, [16], [8]).hparams, source="test")
    older = {key: value for key, value in saved.items() if key != "ema_rampup"}  # made before the option existed
    check_same_model(older, model.hparams, source="test")
    with pytest.raises(CheckpointError, match=r"differs in \['ema_rampup'\]"):
        check_same_model(older, GAN(model.generator, model.discriminator, 16, ema_rampup=0.05).hparams, source="t")


def test_a_run_and_checkpoint_from_before_the_objective_option_still_fit() -> None:
    """Older GANs kept the cross-entropy's options among their own: evaluate and resume move them into
    ``objective``."""
    one_sided = {"label_flip_prob": 0.0, "real_label_range": [0.9, 0.9]}
    model = mlp_gan(16, [8], [8], objective=CrossEntropy(**one_sided))
    older = {key: value for key, value in model.hparams.items() if key != "objective"}
    older |= {"non_saturating": True, "label_smoothing": True, **one_sided}
    check_same_model(older, model.hparams, source="test")
    with pytest.raises(CheckpointError, match=r"differs in \['objective'\]"):
        check_same_model(older, mlp_gan(16, [8], [8]).hparams, source="test")
    networks = {
        "generator": {"_target_": "genmodels.models.gan_mlp.MLPGenerator", "latent_dim": 4},
        "discriminator": {"_target_": "genmodels.models.gan_mlp.MLPDiscriminator"},
    }
    config = {"_target_": "genmodels.models.gan.GAN", "latent_dim": 4, **networks, **one_sided}
    assert instantiate(upgrade_model_config(config)).objective == CrossEntropy(**one_sided)
    assert upgrade_model_config(networks) == networks  # not a GAN of before: left as it is
    assert upgrade_overrides(["model.label_flip_prob=0"]) == ["model.objective.label_flip_prob=0"]


# ---------------------------------------------------------------- training


@pytest.mark.parametrize("name, tricks", [("dcgan", True), ("dcgan", False), ("mlp", True)])
def test_training_on_real_mnist_moves_both_networks(mnist_dir, name: str, tricks: bool) -> None:
    build, size = GANS[name]
    datamodule = MNISTDataModule(data_dir=str(mnist_dir), pixel_range="symmetric", image_size=size)
    images, _ = datamodule.example_batch("train", 64)
    assert images.min() < -0.9 and images.max() <= 1
    torch.manual_seed(0)
    model = build(objective=CrossEntropy(non_saturating=tricks, label_smoothing=tricks))
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    fit = quiet_trainer(max_epochs=2)
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message=".*no `validation_step`")  # the GAN validates: no such warning
        fit.fit(model, train_dataloaders=image_loader(images, 16), val_dataloaders=image_loader(images, 16))
    assert fit.global_step == 2 * 4 * 2  # one discriminator and one generator step per batch
    for prefix in ("generator.", "discriminator."):
        moved = [not torch.equal(before[n], p) for n, p in model.named_parameters() if n.startswith(prefix)]
        assert moved and all(moved), prefix  # every tensor of both networks
    metrics = fit.callback_metrics
    for key in ("d_loss", "g_loss", "d_real", "d_fake"):
        assert torch.isfinite(metrics[f"train_step/{key}"]) and torch.isfinite(metrics[f"train/{key}"]), key
    assert 0 < metrics["train/d_fake"] < metrics["train/d_real"] < 1
    assert 0 < metrics["val/d_real"] < 1  # the discriminator on held-out images


def test_non_finite_losses_stop_training() -> None:
    images = torch.full((8, 1, 32, 32), float("nan"))
    with pytest.raises(TrainingDiverged, match="d_loss"):
        quiet_trainer(max_epochs=1, callbacks=[FiniteLossGuard()]).fit(
            small_dcgan(), train_dataloaders=image_loader(images, 8)
        )


class NaNEveryFifthBatch(L.LightningModule):
    """Returns ``loss`` on every batch and, like a GAN with 5 critic steps, ``g_loss`` on every 5th only: NaN."""

    def __init__(self) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(()))

    def training_step(self, batch, batch_idx: int) -> dict[str, torch.Tensor]:
        loss = self.weight * 0.0
        return {"loss": loss, "g_loss": torch.tensor(float("nan"))} if (batch_idx + 1) % 5 == 0 else {"loss": loss}

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=0.1)


@pytest.mark.parametrize("every_n_steps", [1, 3, 10])
def test_the_guard_catches_a_non_finite_term_returned_on_some_batches_only(every_n_steps: int) -> None:
    images = torch.zeros(12, 1, 2, 2)
    with pytest.raises(TrainingDiverged, match=r"non-finite g_loss\. Likely causes"):
        quiet_trainer(max_epochs=1, callbacks=[FiniteLossGuard(every_n_steps)]).fit(
            NaNEveryFifthBatch(), train_dataloaders=image_loader(images, 1)
        )


def test_a_short_run_writes_its_summary_and_every_gan_figure(train_config) -> None:
    """The fully-connected GAN from its config, in this process (the DCGAN runs in test_experiments)."""
    scores = ["data.batch_size=16", "callbacks.sample_quality.num_samples=200", *QUICK_CLASSIFIER]
    cfg = train_config(["model=gan_mlp", *short_run(2, 2), "~logger", *scores])
    train(cfg)
    run = Path(cfg.paths.output_dir)
    summary = json.loads((run / "metrics.json").read_text())
    assert summary["model"] == "GAN" and summary["image_size"] == 28 and summary["global_steps"] == 8
    assert all(math.isfinite(summary["metrics"][f"train/{key}"]) for key in ("d_loss", "g_loss"))
    drawn = ("samples/epoch_001_mean", "samples/epoch_002_mean", "samples_by_epoch_mean", "interpolation", "curves")
    for name in drawn:
        assert (run / "figures" / f"{name}.png").stat().st_size > 0, name
    assert not (run / "figures" / "reconstructions.png").exists()  # left out by the model config: no encoder

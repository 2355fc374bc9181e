"""The fully-connected GAN: architecture, its checkpoint record, training on real MNIST and the CLI."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import lightning as L
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from genmodels.data import MNISTDataModule
from genmodels.errors import ConfigError
from genmodels.models.gan import GAN
from genmodels.models.gan_mlp import MLPDiscriminator, MLPGenerator
from genmodels.runs.checkpoints import CheckpointError, check_same_model
from genmodels.train import train
from tests.helpers import QUICK_CLASSIFIER


def mlp_gan(latent_dim: int = 100, generator_dims=(128, 256, 512, 1024), discriminator_dims=(512, 256)) -> GAN:
    """The networks of ``model=gan_mlp`` in the GAN, as the config builds them."""
    return GAN(MLPGenerator(latent_dim, generator_dims), MLPDiscriminator(28, discriminator_dims), latent_dim)


def test_shapes_and_ranges() -> None:
    model = mlp_gan()
    images = model.generator(torch.randn(5, 100))
    assert images.shape == (5, 1, 28, 28)
    assert images.min() >= -1 and images.max() <= 1  # tanh
    assert model.discriminator(images).shape == (5,) and model.discriminator(images).dtype == torch.float32
    pictures = model.generate(torch.randn(3, 100))
    assert pictures.shape == (3, 1, 28, 28) and pictures.min() >= 0 and pictures.max() <= 1
    assert MLPGenerator(latent_dim=8, image_size=32)(torch.randn(2, 8)).shape == (2, 1, 32, 32)


def test_classic_architecture() -> None:
    generator = list(MLPGenerator(100, [128, 256, 512, 1024], 28).net)
    linears = [layer for layer in generator if isinstance(layer, nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [
        (100, 128),
        (128, 256),
        (256, 512),
        (512, 1024),
        (1024, 784),
    ]
    kinds = [type(layer).__name__ for layer in generator]
    assert kinds == [
        *["Linear", "LeakyReLU"],  # no BatchNorm after the first hidden layer
        *["Linear", "BatchNorm1d", "LeakyReLU"] * 3,
        *["Linear", "Tanh"],
    ]
    discriminator = list(MLPDiscriminator(28, [512, 256]).net)
    assert [type(layer).__name__ for layer in discriminator] == ["Linear", "LeakyReLU"] * 2 + ["Linear"]
    assert [(m.in_features, m.out_features) for m in discriminator if isinstance(m, nn.Linear)] == [
        (784, 512),
        (512, 256),
        (256, 1),
    ]
    slopes = {layer.negative_slope for layer in generator + discriminator if isinstance(layer, nn.LeakyReLU)}
    assert slopes == {0.2}


@pytest.mark.parametrize(
    "build, key",
    [
        (lambda: MLPGenerator(hidden_dims=[]), "model.generator.hidden_dims"),
        (lambda: MLPDiscriminator(hidden_dims=[0]), "model.discriminator.hidden_dims"),
        (lambda: GAN(MLPGenerator(), MLPDiscriminator(), label_flip_prob=2), "flip"),
    ],
)
def test_bad_options_are_refused(build, key) -> None:
    with pytest.raises(ConfigError, match=key):
        build()


def test_checkpoint_records_the_networks_and_loads_weights_only(tmp_path) -> None:
    model = mlp_gan(16, [8], [8])
    trainer = L.Trainer(logger=False, enable_progress_bar=False, enable_model_summary=False)
    trainer.strategy.connect(model)
    trainer.save_checkpoint(tmp_path / "gan.ckpt", weights_only=True)
    saved = torch.load(tmp_path / "gan.ckpt", weights_only=True)["hyper_parameters"]
    weights = 784 * 8 + 8 + 8 + 1
    assert saved["discriminator"] == {"class": "genmodels.models.gan_mlp.MLPDiscriminator", "parameters": weights}
    check_same_model(saved, model.hparams, source="test")
    with pytest.raises(CheckpointError, match=r"differs in \['generator'\]"):
        check_same_model(saved, mlp_gan(16, [16], [8]).hparams, source="test")


def test_a_few_steps_on_real_mnist_move_both_networks_with_finite_losses(mnist_dir) -> None:
    datamodule = MNISTDataModule(data_dir=str(mnist_dir), pixel_range="symmetric", image_size=28)
    images, _ = datamodule.example_batch("train", 128)
    assert images.min() < -0.9 and images.max() <= 1
    torch.manual_seed(0)
    model = mlp_gan(16, [32, 64], [64, 32])
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    loader = DataLoader(TensorDataset(images, torch.zeros(len(images))), batch_size=32)
    trainer = L.Trainer(
        accelerator="cpu", max_epochs=2, logger=False, enable_checkpointing=False, enable_progress_bar=False
    )
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message=".*no `validation_step`")  # the GAN validates: no such warning
        trainer.fit(model, train_dataloaders=loader, val_dataloaders=loader)
    assert trainer.global_step == 2 * 4 * 2  # two optimizer steps per batch
    for prefix in ("generator.", "discriminator."):
        moved = [not torch.equal(before[n], p) for n, p in model.named_parameters() if n.startswith(prefix)]
        assert moved and all(moved), prefix
    metrics = trainer.callback_metrics
    for key in ("d_loss", "g_loss", "d_real", "d_fake"):
        assert torch.isfinite(metrics[f"train/{key}"]), key
    assert 0 < metrics["train/d_fake"] < metrics["train/d_real"] < 1
    assert 0 < metrics["val/d_real"] < 1  # the discriminator on held-out images


def test_a_short_run_draws_every_gan_figure(train_config) -> None:
    """In this process: the fully-connected GAN's training command runs in the README's test."""
    cfg = train_config(
        [
            "model=gan_mlp",
            "trainer.max_epochs=2",
            "trainer.limit_train_batches=3",
            "figures.sample_epochs=[1]",
            "data.batch_size=32",
            "callbacks.sample_quality.num_samples=200",  # scored, with a classifier trained in seconds
            *QUICK_CLASSIFIER,
        ]
    )
    train(cfg)
    run = Path(cfg.paths.output_dir)
    summary = json.loads((run / "metrics.json").read_text())
    assert summary["model"] == "GAN" and summary["image_size"] == 28 and summary["global_steps"] == 12
    assert all(torch.isfinite(torch.tensor(summary["metrics"][f"train/{k}"])) for k in ("d_loss", "g_loss"))
    figures = run / "figures"
    drawn = ("samples/epoch_001_mean", "samples/epoch_002_mean", "samples_by_epoch_mean", "interpolation", "curves")
    for name in drawn:
        assert (figures / f"{name}.png").stat().st_size > 0, name
    assert not (figures / "reconstructions.png").exists()  # left out by the model config: no encoder

"""``genmodels.load_run``: the model of a run folder with a checkpoint's weights, in eval mode, ready to sample."""

from __future__ import annotations

from pathlib import Path

import torch

import genmodels
from genmodels.runs.checkpoints import load_checkpoint


def assert_weights_of(model: torch.nn.Module, checkpoint: Path) -> None:
    saved = load_checkpoint(checkpoint)["state_dict"]
    assert saved.keys() == model.state_dict().keys()
    assert all(torch.equal(value.cpu(), saved[key]) for key, value in model.state_dict().items())


def test_a_vae_run_loads_ready_to_sample(tiny_runs):
    model = genmodels.load_run(tiny_runs["vae"])
    assert type(model).__name__ == "VAE" and not model.training
    assert {parameter.device.type for parameter in model.parameters()} == {"cpu"}
    assert_weights_of(model, tiny_runs["vae"] / "checkpoints" / "last.ckpt")  # a VAE: its last epoch
    images = model.generate(torch.randn(5, model.latent_dim))
    assert images.shape == (5, 1, 28, 28) and 0 <= images.min() and images.max() <= 1
    on_meta = genmodels.load_run(tiny_runs["vae"], checkpoint="last", device="meta")  # the device asked for
    assert {parameter.device.type for parameter in on_meta.parameters()} == {"meta"}


def test_a_gan_run_samples_from_its_moving_average(tiny_runs):
    run = tiny_runs["gan"]
    model = genmodels.load_run(run)
    best = sorted((run / "checkpoints").glob("best-*.ckpt"))
    assert_weights_of(model, best[-1])  # auto: a GAN's best epoch by sample quality
    assert not model.training and model.generator_ema is not None
    z = torch.randn(6, model.latent_dim)
    images = model.generate(z)
    assert images.shape == (6, 1, 28, 28) and 0 <= images.min() and images.max() <= 1
    with torch.no_grad():
        assert torch.equal(images, model.to_unit_range(model.generator_ema(z)))
        assert not torch.equal(images, model.to_unit_range(model.generator(z)))  # not the live generator
    assert not model.training  # sampling left it in eval mode

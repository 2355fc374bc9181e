"""Speed options: CPU threads, torch.compile of the networks, channels_last, bf16 autocast, data on the GPU."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from genmodels.errors import ConfigError
from genmodels.runs.checkpoints import load_checkpoint
from genmodels.train import train
from tests.helpers import SMALL_DCGAN

FAST = ["trainer.fast_dev_run=true", "~logger", "callbacks=none", "latent=4"]
DCGAN_FAST = [*FAST, *SMALL_DCGAN]


def test_compiled_networks_train_and_save_plain_checkpoints(train_config) -> None:
    cfg = train_config([*FAST, "speed.compile=true", "speed.compile_backend=aot_eager"])
    metrics, objects = train(cfg)
    model = objects["model"]
    assert all(getattr(net, "_compiled_call_impl", None) is not None for net in model.networks().values())
    assert torch.isfinite(torch.tensor(metrics["test/neg_elbo"]))
    keys = load_checkpoint(Path(cfg.paths.output_dir) / "checkpoints" / "last.ckpt")["state_dict"]
    assert "encoder.mean.weight" in keys and not any("_orig_mod" in key for key in keys)


def test_channels_last_converts_the_convolutions(train_config) -> None:
    _, objects = train(train_config([*DCGAN_FAST, "speed.channels_last=true"]))
    convs = [m for m in objects["model"].modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.ConvTranspose2d))]
    assert convs and all(m.weight.is_contiguous(memory_format=torch.channels_last) for m in convs)
    assert any(not m.weight.is_contiguous() for m in convs)  # really another layout than the default


@pytest.mark.parametrize("extra", [FAST, DCGAN_FAST], ids=["vae", "dcgan"])
def test_bf16_autocast_trains_with_float32_losses(train_config, extra) -> None:
    metrics, objects = train(train_config([*extra, "trainer.precision=bf16-mixed"]))
    assert metrics and all(torch.isfinite(torch.tensor(v)) for v in metrics.values())
    model = objects["model"]
    size = objects["datamodule"].image_size
    x = torch.rand(4, 1, size, size)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        if hasattr(model, "loss_terms"):  # VAE: the layers run in bf16, the loss terms in float32
            assert model.encoder(x)[0].dtype == torch.bfloat16
            outputs = model.loss_terms(x)
        else:  # DCGAN: bf16 convolutions, float32 logits for the losses
            assert model.generator(torch.randn(4, model.latent_dim)).dtype == torch.bfloat16
            outputs = {"logits": model.discriminator(x * 2 - 1)}
    assert all(t.dtype == torch.float32 for t in outputs.values())


def test_num_threads_sets_the_torch_threads(train_config) -> None:
    before = torch.get_num_threads()
    try:
        train(train_config([*FAST, "speed.num_threads=2"]))
        assert torch.get_num_threads() == 2
        train(train_config([*FAST, "speed.num_threads=1"]))
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)


def test_commands_make_idle_openmp_threads_sleep() -> None:
    """genmodels sets OMP_WAIT_POLICY=PASSIVE before torch loads OpenMP: libgomp then spins 0 times, not 300,000."""
    env = {key: value for key, value in os.environ.items() if key != "OMP_WAIT_POLICY"}
    command = [sys.executable, "-c", "import genmodels, torch; torch.ones(1)"]
    shown = subprocess.run(command, env={**env, "OMP_DISPLAY_ENV": "VERBOSE"}, capture_output=True, text=True).stderr
    if "GOMP_SPINCOUNT" not in shown:
        pytest.skip("torch does not use GNU OpenMP here")
    assert "GOMP_SPINCOUNT = '0'" in shown
    mine = subprocess.run(
        command, env={**env, "OMP_DISPLAY_ENV": "VERBOSE", "OMP_WAIT_POLICY": "ACTIVE"}, capture_output=True, text=True
    )
    assert "OMP_WAIT_POLICY = 'ACTIVE'" in mine.stderr  # a policy of the user's own wins


@pytest.mark.parametrize("override", ["speed.num_threads=0", "speed.compile_mode=fastest", "speed.compile_backend=x"])
def test_bad_speed_options_fail_before_training(train_config, override) -> None:
    cfg = train_config([*FAST, "speed.compile=true", override])
    with pytest.raises(ConfigError, match=override.split("=")[0]):
        train(cfg)
    assert not (Path(cfg.paths.output_dir) / "checkpoints").exists()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_data_stays_on_the_gpu(train_config) -> None:
    _, objects = train(train_config([*FAST, "trainer.accelerator=gpu"]))
    assert all(split.images.is_cuda for split in objects["datamodule"].splits.values())

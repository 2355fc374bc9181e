"""The model contract: a model written only against the protocols gets the framework's figures and
metrics, and a missing capability stops a run at start-up with a message naming what is missing."""

from __future__ import annotations

from pathlib import Path

import lightning as L
import pytest
import torch
from omegaconf import OmegaConf, open_dict
from torch import nn

from genmodels.callbacks import FiniteLossGuard, LatentScatter
from genmodels.contract import (
    CapabilityError,
    EncodesImages,
    GeneratesImages,
    HasLikelihood,
    NamesNetworks,
    ReconstructsImages,
    require,
)
from genmodels.evaluate import evaluate
from genmodels.speed import apply_speed_options
from genmodels.train import train
from tests.helpers import (
    QUICK_CLASSIFIER,
    QUICK_EVAL_CLASSIFIER,
    compose_evaluate,
    image_loader,
    mlp_vae,
    quiet_trainer,
    short_run,
    small_dcgan,
)


class LinearImages(L.LightningModule):
    """A model written against the protocols only: it generates [-1, 1] images from a code (GeneratesImages)."""

    def __init__(self, latent_dim: int = 2, image_size: int = 28) -> None:
        super().__init__()
        self.latent_dim = latent_dim
        self.net = nn.Sequential(nn.Linear(latent_dim, image_size * image_size), nn.Tanh())
        self.shape = (1, image_size, image_size)

    def training_step(self, batch, batch_idx: int) -> dict[str, torch.Tensor]:
        x, _ = batch  # match the mean image: the least a generator can learn
        fake = self.net(torch.randn(len(x), self.latent_dim, device=self.device))
        return {"loss": (fake - x.flatten(start_dim=1)).square().mean()}

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.Adam(self.parameters(), lr=1e-2)

    @torch.no_grad()
    def generate(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z).view(len(z), *self.shape).add(1).div(2)


class ReturnsNothing(LinearImages):
    def training_step(self, batch, batch_idx: int) -> None:
        super().training_step(batch, batch_idx)


def test_the_models_offer_their_capabilities() -> None:
    vae, gan = mlp_vae(latent_dim=2), small_dcgan()
    offered = {
        type(model).__name__: {
            cap.__name__
            for cap in (GeneratesImages, ReconstructsImages, EncodesImages, HasLikelihood, NamesNetworks)
            if isinstance(model, cap)
        }
        for model in (vae, gan, LinearImages())
    }
    assert offered == {
        "VAE": {"GeneratesImages", "ReconstructsImages", "EncodesImages", "HasLikelihood", "NamesNetworks"},
        "GAN": {"GeneratesImages", "NamesNetworks"},
        "LinearImages": {"GeneratesImages"},
    }


def test_a_protocol_only_model_gets_samples_interpolation_and_sample_quality(train_config, mnist_dir) -> None:
    scores = ["callbacks.sample_quality.num_samples=300", *QUICK_CLASSIFIER]  # while training, as for a GAN
    cfg = train_config(["model=gan_mlp", "latent=2", *short_run(1, 3), *scores])
    with open_dict(cfg):
        cfg.model = {"_target_": f"{__name__}.LinearImages", "latent_dim": "${latent}", "image_size": 28}
    train(cfg)
    run = Path(cfg.paths.output_dir)
    figures = run / "figures"
    for name in ("samples/epoch_001_mean", "samples_by_epoch_mean", "interpolation", "manifold"):
        assert (figures / f"{name}.png").stat().st_size > 0, name

    (run / ".hydra").mkdir()
    OmegaConf.save(cfg, run / ".hydra" / "config.yaml", resolve=True)
    settings = [f"run_dir={run}", f"data_dir={mnist_dir}", "metrics.num_samples=300", "progress=false"]
    settings.append(f"allowed_targets=[{__name__}.LinearImages]")  # a model class of its own, trusted by name
    report = evaluate(compose_evaluate([*settings, *QUICK_EVAL_CLASSIFIER]))
    assert {"fid_classifier", "inception_score", "precision", "recall"} <= set(report["metrics"])
    assert report["skipped"] == {
        "likelihood": "LinearImages does not offer HasLikelihood (no log_likelihood, posterior, prior)"
    }
    with pytest.raises(CapabilityError, match=r"metrics\.likelihood=true needs .*LinearImages has no log_likelihood"):
        evaluate(compose_evaluate([*settings, *QUICK_EVAL_CLASSIFIER, "metrics.likelihood=true"]))


def test_a_callback_for_a_missing_capability_stops_the_cli_at_start_up(run_main, tmp_path) -> None:
    result = run_main(
        "genmodels.train",
        "model=gan_mlp",
        "debug=tiny",  # the classifier the test session prepared
        "+callbacks.reconstructions={_target_: genmodels.callbacks.ReconstructionGrid, output_dir: figures}",
        f"hydra.run.dir={tmp_path}",
        check=False,
    )
    assert result.returncode == 1
    assert (
        "error: the ReconstructionGrid callback needs a model that offers ReconstructsImages (Reconstructs "
        "data-space images: the reconstruction grid); GAN has no reconstruct.\n"
        "Fix: leave the callback out with ~callbacks.<its key>"
    ) in result.stderr, result.stderr
    assert "callbacks=none" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "checkpoints").exists()  # stopped before the first step


def test_the_message_names_model_user_and_every_missing_member() -> None:
    with pytest.raises(CapabilityError) as error:
        require(nn.Linear(2, 2), EncodesImages, "the LatentScatter callback", "drop it")
    message = str(error.value)
    assert "the LatentScatter callback needs a model that offers EncodesImages" in message
    assert "Linear has no encode_mean, latent_dim" in message and "Fix: drop it" in message

    with pytest.raises(CapabilityError, match="LatentScatter callback .* GAN has no encode_mean"):
        LatentScatter("unused").setup(quiet_trainer(), small_dcgan(), "fit")


def test_speed_compile_needs_named_networks() -> None:
    speed = OmegaConf.create({"compile": True, "compile_mode": None, "compile_backend": "eager"})
    speed.channels_last = False
    with pytest.raises(CapabilityError, match="speed.compile=true .* LinearImages has no networks"):
        apply_speed_options(LinearImages(), speed)


def test_the_nan_guard_refuses_a_training_step_without_loss_tensors() -> None:
    images = torch.rand(8, 1, 28, 28) * 2 - 1
    with pytest.raises(CapabilityError, match=r"FiniteLossGuard .* ReturnsNothing\.training_step returned none"):
        quiet_trainer(max_epochs=1, callbacks=[FiniteLossGuard()]).fit(ReturnsNothing(), image_loader(images, 4))
    trainer = quiet_trainer(max_epochs=1, callbacks=[FiniteLossGuard()])  # the model returning its loss trains
    trainer.fit(LinearImages(), image_loader(images, 4))
    assert trainer.global_step == 2

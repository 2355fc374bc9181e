"""Run folders and checkpoints of the VAE classes that built their own networks (``genmodels.models.vae.VAE`` with
``hidden_dims``, ``genmodels.models.conv_vae.ConvVAE`` with ``channels``): read in today's layout, evaluated and
resumed as they are. The old folder is written here, as the earlier code wrote it, from a run of today's code."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
import yaml

from genmodels.errors import CheckpointError
from genmodels.evaluate import evaluate
from genmodels.models.conv_vae import ConvDecoder, ConvEncoder
from genmodels.models.vae import VAE
from genmodels.runs.checkpoints import check_same_model
from genmodels.runs.legacy import upgrade_hparams, upgrade_model_config, upgrade_overrides
from tests.helpers import compose_evaluate, mlp_vae

OPTIMIZER = {"_target_": "torch.optim.Adam", "_partial_": True, "lr": 0.001}
# The model section of an MLP VAE's .hydra/config.yaml as the earlier code wrote it (latent=2, hidden_dims [16]).
OLD_MLP_CONFIG = {
    "_target_": "genmodels.models.vae.VAE",
    "latent_dim": "${latent}",
    "hidden_dims": [16],
    "image_size": "${data.image_size}",
    "beta": 1.0,
    "iwae_k": 1,
    "optimizer": OPTIMIZER,
    "scheduler": None,
}
# The names the earlier MLP VAE gave its weights, in its order (read from one of its checkpoints).
OLD_MLP_KEYS = [
    f"{network}.{layer}.{kind}"
    for network, layer in [("encoder", "body.0.0"), ("encoder", "mean"), ("encoder", "logvar")]
    + [("decoder", "net.0"), ("decoder", "net.2")]
    for kind in ("weight", "bias")
]


def test_an_old_mlp_config_becomes_the_vae_with_its_networks():
    network = {"latent_dim": "${latent}", "image_size": "${data.image_size}", "hidden_dims": [16]}
    assert upgrade_model_config(OLD_MLP_CONFIG) == {
        "_target_": "genmodels.models.vae.VAE",
        "latent_dim": "${latent}",
        "beta": 1.0,
        "iwae_k": 1,
        "optimizer": OPTIMIZER,
        "scheduler": None,
        "encoder": {"_target_": "genmodels.models.vae_mlp.MLPEncoder", **network},
        "decoder": {"_target_": "genmodels.models.vae_mlp.MLPDecoder", **network},
    }
    older_place = upgrade_model_config({**OLD_MLP_CONFIG, "_target_": "genmodels.vae.VAE"})
    assert older_place == upgrade_model_config(OLD_MLP_CONFIG)


def test_an_old_conv_config_names_its_channels_widths_and_today_s_configs_stay_as_they_are():
    old = {"_target_": "genmodels.models.conv_vae.ConvVAE", "latent_dim": 3, "channels": [4, 8], "beta": 1.0}
    upgraded = upgrade_model_config(old)
    assert upgraded["encoder"] == {
        "_target_": "genmodels.models.conv_vae.ConvEncoder",
        "latent_dim": 3,
        "widths": [4, 8],
    }
    assert upgraded["decoder"]["_target_"] == "genmodels.models.conv_vae.ConvDecoder"
    assert upgrade_model_config(upgraded) == upgraded
    gan = {"_target_": "genmodels.models.gan.GAN", "generator": {"_target_": "x"}, "latent_dim": 3}
    assert upgrade_model_config(gan) == gan


def test_saved_overrides_get_today_s_keys():
    old = ["latent=2", "model.hidden_dims=[64,32]", "model.hidden_dims.0=8", "model.channels=[4,8]", "debug=tiny"]
    assert upgrade_overrides(old) == [
        "latent=2",
        "model.encoder.hidden_dims=[64,32]",
        "model.encoder.hidden_dims.0=8",
        "model.encoder.widths=[4,8]",
        "debug=tiny",
    ]
    assert upgrade_overrides(["model.hidden_dims_x=1", "model.encoder.hidden_dims=[3]"]) == [
        "model.hidden_dims_x=1",
        "model.encoder.hidden_dims=[3]",
    ]


def test_old_checkpoints_hyper_parameters_compare_as_today_s_vae_records_itself():
    old_mlp = {"latent_dim": 2, "hidden_dims": [16], "image_size": 28, "beta": 1.0, "iwae_k": 1}
    today = dict(mlp_vae(latent_dim=2, hidden_dims=[16]).hparams)
    assert today.pop("num_classes") is None  # an option added since: absent counts as null (check_same_model)
    assert upgrade_hparams(old_mlp, "old.ckpt") == today
    old_conv = {"latent_dim": 3, "channels": [4, 8], "image_size": 28, "beta": 1.0, "iwae_k": 1}
    conv = VAE(ConvEncoder(3, [4, 8]), ConvDecoder(3, [4, 8]), latent_dim=3)
    check_same_model(old_conv, conv.hparams, source="old.ckpt")
    with pytest.raises(CheckpointError, match=r"old.ckpt was made by another model configuration \(differs in "):
        check_same_model({**old_mlp, "hidden_dims": [32]}, mlp_vae(latent_dim=2, hidden_dims=[16]).hparams, "old.ckpt")
    state = torch.get_rng_state()
    upgrade_hparams(old_mlp, "old.ckpt")  # built on the meta device: no random draws
    assert torch.equal(state, torch.get_rng_state())


@pytest.mark.parametrize("value", [{"_target_": "os.getcwd"}, "[16]", [16, "x"], True, None], ids=repr)
def test_an_old_checkpoint_s_sizes_are_only_read_never_built(value):
    crafted = {"latent_dim": 2, "hidden_dims": value, "image_size": 28, "beta": 1.0}
    with pytest.raises(CheckpointError, match=r"^old.ckpt records the model option hidden_dims=.*not a size"):
        upgrade_hparams(crafted, "old.ckpt")


def test_an_old_checkpoint_builds_only_its_checked_sizes_under_genmodels_classes(tmp_path):
    made = tmp_path / "made"
    crafted = {  # conv sizes checked, then an MLP named with a config for its widths
        "beta": 1.0,
        "latent_dim": 2,
        "channels": [4],
        "_target_": "genmodels.vae.VAE",
        "hidden_dims": {"_target_": "os.makedirs", "_args_": [str(made)]},
    }
    upgrade_hparams(crafted, "old.ckpt")  # the conv VAE's, from the checked sizes only
    assert not made.exists()
    with pytest.raises(CheckpointError, match=r"^old.ckpt records model sizes its networks refuse \("):
        upgrade_hparams({"beta": 1.0, "latent_dim": -5, "hidden_dims": [16]}, "old.ckpt")


def write_as_the_earlier_code(run: Path) -> None:
    """Rewrite a run folder of today's MLP VAE (latent 2, hidden_dims [16]) as the earlier code wrote it."""
    config_file = run / ".hydra" / "config.yaml"
    config = yaml.safe_load(config_file.read_text())
    config["model"] = OLD_MLP_CONFIG
    config_file.write_text(yaml.safe_dump(config, sort_keys=False))
    overrides = run / ".hydra" / "overrides.yaml"
    overrides.write_text(overrides.read_text().replace("model.encoder.hidden_dims=", "model.hidden_dims="))
    for checkpoint in (run / "checkpoints").glob("*.ckpt"):
        state = torch.load(checkpoint, weights_only=True)
        state["hyper_parameters"] = {"latent_dim": 2, "hidden_dims": [16], "image_size": 28, "beta": 1.0, "iwae_k": 1}
        state["state_dict"] = dict(zip(OLD_MLP_KEYS, state["state_dict"].values(), strict=True))
        torch.save(state, checkpoint)


def test_an_old_run_folder_is_evaluated_to_the_same_numbers_and_resumed(run_main, mnist_dir, tmp_path):
    today, old = tmp_path / "today", tmp_path / "old"
    overrides = ["latent=2", "model.encoder.hidden_dims=[16]", "debug=tiny"]
    run_main("genmodels.train", *overrides, f"hydra.run.dir={today}")
    shutil.copytree(today, old)
    write_as_the_earlier_code(old)
    assert list(torch.load(today / "checkpoints" / "last.ckpt", weights_only=True)["state_dict"]) == OLD_MLP_KEYS

    settings = ["metrics.sample_quality=false", "metrics.iwae_k=5", "metrics.num_test_images=20", "progress=false"]
    reports = [
        evaluate(compose_evaluate([f"run_dir={run}", f"data_dir={mnist_dir}", *settings])) for run in (today, old)
    ]
    assert reports[0]["metrics"] == reports[1]["metrics"] and reports[1]["model"] == "VAE"

    run_main("genmodels.train", f"resume={old}", "trainer.max_epochs=2")
    assert json.loads((old / "metrics.json").read_text())["epochs"] == 2
    assert "model.encoder.hidden_dims=[16]" in (old / ".hydra" / "overrides.yaml").read_text()
    assert "genmodels.models.vae_mlp.MLPEncoder" in (old / ".hydra" / "config.yaml").read_text()

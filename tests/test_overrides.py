"""Misspelt keys on the command line: the closest valid keys, exit status 1, and no run folder."""

import pytest

from genmodels.overrides import unknown_key_message


@pytest.mark.parametrize(
    "arguments, named, suggested",
    [
        (["trainer.max_epoch=3"], "trainer.max_epoch", "did you mean trainer.max_epochs?"),
        (["max_epochs=3"], "max_epochs", "did you mean trainer.max_epochs?"),  # the same key in another group
        (["lr=1e-4"], "lr", "model.optimizer.lr?"),
        (["data.batchsize=64"], "data.batchsize", "did you mean data.batch_size or data.eval_batch_size?"),
        (["-m", "latent=2,5", "trainer.max_epoch=3"], "trainer.max_epoch", "trainer.max_epochs"),
        (
            ["latent=2", "--cfg", "job", "trainer.max_epoch=3"],
            "trainer.max_epoch",
            "trainer.max_epochs",
        ),  # after a flag
        (["model=conv_vae", "model.channels=[8]"], "model.channels", "did you mean model.encoder.widths"),  # renamed
    ],
)
def test_misspelt_key_names_the_closest_valid_keys(arguments, named, suggested):
    message = unknown_key_message("train", arguments)
    assert message.startswith(f"error: {named} is not a key of this configuration")
    assert suggested in message and "python -m genmodels.train --cfg job" in message


@pytest.mark.parametrize(
    "arguments",
    [
        ["trainer.max_epochs=3", "latent=2", "model.encoder.hidden_dims.0=256"],
        ["model=dcgan", "model.generator.width=8"],  # a key the chosen group brings
        ["-m", "model=vae,dcgan", "model.generator.width=8"],  # ... or one of the swept groups
        ["experiment=report_dcgan", "data.image_size=32"],
        ["+callbacks.stop._target_=x", "+callbacks.stop.step=6", "~logger"],  # additions and deletions
        ["hydra.run.dir=/tmp/x", "hydra/launcher=joblib"],  # Hydra's own keys
        ["model=transformer"],  # Hydra's message lists the options
        ["--help", "trainer.max_epoch=3"],
        ["--config-name", "my_own", "my_key=3"],  # another config: Hydra checks it
    ],
)
def test_valid_overrides_pass(arguments):
    assert unknown_key_message("train", arguments) is None


def test_evaluate_keys_are_checked_against_the_evaluate_config():
    assert "did you mean metrics.iwae_k?" in unknown_key_message("evaluate", ["metrics.iwae_kk=50"])
    assert unknown_key_message("evaluate", ["run_dir=x", "metrics.iwae_k=50"]) is None


def test_cli_typo_exits_1_without_a_run_folder(run_main, tmp_path):
    run_dir = tmp_path / "run"
    result = run_main("genmodels.train", "trainer.max_epoch=3", f"hydra.run.dir={run_dir}", check=False)
    assert result.returncode == 1
    assert "did you mean trainer.max_epochs?" in result.stderr and "Traceback" not in result.stderr
    assert "+trainer.max_epoch" not in result.stderr  # not Hydra's advice to add the key
    assert not run_dir.exists()

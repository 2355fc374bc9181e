import json
import logging
import warnings
from pathlib import Path

import lightning as L
import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from PIL import Image

from genmodels.runs.checkpoints import load_checkpoint
from genmodels.train import train
from tests.helpers import CONFIGS, NO_FIGURES, REPO, short_run

SHORT = short_run(2, 3)


def png_size(path):
    with Image.open(path) as image:
        return image.size


@pytest.mark.parametrize("latent", [2, 20])
def test_vae_run_writes_every_output(train_config, recwarn, latent):
    cfg = train_config([f"latent={latent}", *SHORT])
    assert cfg.trainer.log_every_n_steps == 50 and cfg.logger  # more than the 3 batches of an epoch
    metrics, objects = train(cfg)
    assert not [w for w in recwarn if "smaller than the logging interval" in str(w.message)]  # no advice
    out = Path(objects["trainer"].default_root_dir)
    summary = json.loads((out / "metrics.json").read_text())
    assert summary["epochs"] == 2 and summary["latent"] == latent and summary["model"] == "VAE"
    for key in ("train/neg_elbo", "val/neg_elbo", "test/neg_elbo", "test/recon", "test/kl"):
        assert summary["metrics"][key] == pytest.approx(metrics[key])
    m = summary["metrics"]
    assert m["test/neg_elbo"] == pytest.approx(m["test/recon"] + m["test/kl"], rel=1e-5)
    assert m["test/neg_elbo"] > 0  # nats per image, lower is better
    assert (out / "checkpoints" / "last.ckpt").exists() and list((out / "checkpoints").glob("best-*.ckpt"))
    assert list((out / "tensorboard").glob("events.out.tfevents.*"))
    figures = out / "figures"
    assert png_size(figures / "samples" / "epoch_001_mean.png") == (242, 242)
    assert png_size(figures / "samples" / "epoch_001_bernoulli.png") == (242, 242)
    assert (figures / "samples" / "epoch_002_mean.png").exists()  # the last epoch is always drawn
    for name in ("curves", "samples_by_epoch_mean", "samples_by_epoch_bernoulli", "interpolation"):
        assert png_size(figures / f"{name}.png")[0] > 300
    assert png_size(figures / "reconstructions.png") == (482, 122)
    assert (figures / "manifold.png").exists() == (latent == 2)
    assert (figures / "latent_scatter.png").exists() == (latent == 2)
    if latent == 2:
        assert min(png_size(figures / "manifold.png")) > 602  # the 20 x 20 grid of 30-pixel tiles, with its axes
    assert sorted(json.loads((figures / "curves.json").read_text())) == ["1", "2"]


@pytest.mark.parametrize("max_epochs, drawn", [(1, [1]), (2, [1, 2]), (3, [1, 2, 3])])
def test_shortened_default_run_draws_first_middle_and_last_epoch(train_config, capsys, max_epochs, drawn):
    few_batches = ["trainer.limit_train_batches=2", "trainer.limit_val_batches=1", "test=false", "~logger"]
    cfg = train_config([f"trainer.max_epochs={max_epochs}", *few_batches, "trainer.enable_progress_bar=true"])
    train(cfg)
    bar = capsys.readouterr().out  # the progress bar counts epochs 1-based, out of max_epochs
    assert f"Epoch {max_epochs}/{max_epochs}:" in bar and "Epoch 0" not in bar
    figures = Path(cfg.paths.output_dir) / "figures"
    names = sorted(p.name for p in (figures / "samples").glob("*_mean.png"))
    assert names == [f"epoch_{epoch:03d}_mean.png" for epoch in drawn]
    curve_epochs = sorted(int(epoch) for epoch in json.loads((figures / "curves.json").read_text()))
    assert curve_epochs == list(range(1, max_epochs + 1))


def test_default_data_and_outputs_are_in_the_checkout_from_any_directory(tmp_path, monkeypatch):
    for variable in ("GENMODELS_DATA_DIR", "GENMODELS_LOG_DIR"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.chdir(tmp_path)
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONFIGS), version_base="1.3"):
        paths = compose(config_name="train").paths
    assert Path(paths.data_dir) == REPO / "data" and Path(paths.log_dir) == REPO / "outputs"
    monkeypatch.setenv("GENMODELS_DATA_DIR", "elsewhere")  # a folder of your own wins
    assert paths.data_dir == "elsewhere"


class InterruptAtSecondBatch(L.Callback):
    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        if batch_idx == 1:
            raise KeyboardInterrupt


def test_run_output_carries_no_library_noise(train_config):
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append
    # Lightning's messages are logged here; whether they also reach "lightning" depends on import order
    rank_zero = logging.getLogger("lightning.pytorch.utilities.rank_zero")
    rank_zero.addHandler(handler)
    interrupt = [f"+callbacks.stop._target_={__name__}.InterruptAtSecondBatch", "trainer.limit_train_batches=3"]
    cfg = train_config(["trainer.max_epochs=1", "~logger", *interrupt])
    try:
        with warnings.catch_warnings(record=True) as caught, pytest.raises(SystemExit):
            warnings.simplefilter("always")
            train(cfg)  # interrupted: saves interrupted.ckpt
    finally:
        rank_zero.removeHandler(handler)
    assert (Path(cfg.paths.output_dir) / "checkpoints" / "interrupted.ckpt").exists()
    messages = " ".join(record.getMessage() for record in records)
    assert "GPU available" in messages  # Lightning's own lines are captured ...
    assert "litlogger" not in messages and "weights_only" not in messages  # ... but not the advert or the default
    assert not [w for w in caught if "LeafSpec" in str(w.message)]


def test_last_checkpoint_is_the_last_epoch_when_an_earlier_one_was_best(train_config):
    # monitor "epoch" with mode min: the first epoch stays the best, so no top-k checkpoint is saved after it
    few_batches = ["trainer.limit_train_batches=2", "trainer.limit_val_batches=1", "test=false", "~logger"]
    cfg = train_config(["trainer.max_epochs=3", *few_batches, *NO_FIGURES, "monitor.metric=epoch", "monitor.mode=min"])
    train(cfg)
    folder = Path(cfg.paths.output_dir) / "checkpoints"
    assert sorted(p.name for p in folder.glob("*.ckpt")) == ["best-epoch001.ckpt", "last.ckpt"]
    last = load_checkpoint(folder / "last.ckpt")
    assert last["epoch"] == 2 and last["loops"]["fit_loop"]["epoch_progress"]["current"]["processed"] == 3


@pytest.mark.parametrize(
    "options, named",
    [
        (["data.batch_size=0"], "data.batch_size must be a positive integer"),
        (["data.image_size=13"], "data.image_size must be one of"),
        (["data.eval_batch_size=0"], "data.eval_batch_size must be a positive integer"),
        (
            ["model=conv_vae", "model.encoder.widths=[0,64]"],
            "model.encoder.widths must be a non-empty list",
        ),  # the model's check
        (["model.optimizer.lr=-1"], "Invalid learning rate: -1"),  # PyTorch's check, on a stand-in parameter
        (["model=dcgan", "model.generator_lr=-1"], "model.generator_lr must be a positive"),
        # options checked against the model's signature (genmodels.target_options), before Hydra's instantiate
        (["model.beta=abc"], "model.beta must be of type float (genmodels.models.vae.VAE takes beta: float)"),
        (["model.encoder.hidden_dims=foo"], "model.encoder.hidden_dims must be of type list[int]"),
        (["model=dcgan", "model.n_critic=1.5"], "model.n_critic must be of type int"),
        (["+model.betta=2"], "model.betta is not an option of genmodels.models.vae.VAE"),
    ],
)
def test_a_refused_new_run_prints_one_line_and_leaves_no_folder(run_main, tmp_path, options, named):
    logs = tmp_path / "logs"
    result = run_main("genmodels.train", "debug=tiny", *options, f"paths.log_dir={logs}", check=False)
    assert result.returncode == 1
    assert result.stderr.startswith("error:") and named in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert not list(logs.glob("train/runs/*")), "a refused run left its folder"

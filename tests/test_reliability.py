"""Bad input, divergence, interruption and resume, determinism, and unsafe checkpoints."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import lightning as L
import pytest
import torch

from genmodels.callbacks.safety import TrainingDiverged
from genmodels.checkpoints import CheckpointError, load_checkpoint
from genmodels.train import train
from genmodels.vae import VAE
from genmodels.validation import ConfigError
from tests.conftest import REPO, compose_train

SHORT = [
    "trainer.max_epochs=3",
    "trainer.limit_train_batches=4",
    "trainer.limit_val_batches=1",
    "trainer.limit_test_batches=1",
    "figures.sample_epochs=[1]",
    "~logger",
    "latent=4",
]


class InterruptAt(L.Callback):
    """Simulates Ctrl-C at a given global step."""

    def __init__(self, step: int) -> None:
        self.step = step

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        if trainer.global_step == self.step:
            raise KeyboardInterrupt


def final_weights(run_dir: Path) -> dict[str, torch.Tensor]:
    return load_checkpoint(run_dir / "checkpoints" / "last.ckpt")["state_dict"]


def metrics_of(run_dir: Path) -> dict[str, float]:
    return json.loads((run_dir / "metrics.json").read_text())["metrics"]


@pytest.mark.parametrize(
    "override, key",
    [
        ("latent=0", "latent"),
        ("latent=-3", "latent"),
        ("latent=2.5", "latent"),
        ("data.batch_size=0", "data.batch_size"),
        ("data.binarize=sometimes", "data.binarize"),
        ("figures.sample_epochs=[0,2]", "figures.sample_epochs"),
    ],
)
def test_bad_values_fail_before_training(train_config, override, key):
    cfg = train_config([*SHORT, override])
    with pytest.raises(ValueError, match=key) as error:
        train(cfg)
    assert "must" in str(error.value) or "allowed" in str(error.value)
    assert not (Path(cfg.paths.output_dir) / "checkpoints").exists()


def test_bad_value_on_the_cli_is_one_message(run_cli, tmp_path):
    result = run_cli("genmodels.train", "latent=0", f"hydra.run.dir={tmp_path}", check=False)
    assert result.returncode == 1
    assert "error: latent must be a positive integer" in result.stderr
    assert "Traceback" not in result.stderr
    assert "latent must be" in json.loads((tmp_path / "failed.json").read_text())["error"]


def test_unknown_group_option_lists_valid_ones(run_cli):
    result = run_cli("genmodels.train", "model=transformer", check=False)
    assert result.returncode == 1
    assert "Could not find 'model/transformer'" in result.stderr and "vae" in result.stderr


def test_nan_loss_stops_with_step_term_and_causes(train_config, monkeypatch):
    original = VAE.loss_terms

    def poisoned(self, x):
        terms = original(self, x)
        if self.trainer.global_step >= 5:  # in the second epoch (4 batches per epoch)
            terms["kl"] = terms["kl"] * float("nan")
        return terms

    monkeypatch.setattr(VAE, "loss_terms", poisoned)
    cfg = train_config([*SHORT, "callbacks.finite_loss_guard.every_n_steps=1"])
    with pytest.raises(TrainingDiverged) as error:
        train(cfg)
    message = str(error.value)
    assert "step 5" in message and "kl" in message and "model.optimizer.lr" in message and "last.ckpt" in message
    assert "recon" not in message.split("non-finite")[1]  # only the poisoned term is named
    run_dir = Path(cfg.paths.output_dir)
    weights = final_weights(run_dir)
    assert all(torch.isfinite(w).all() for w in weights.values())
    assert load_checkpoint(run_dir / "checkpoints" / "last.ckpt")["epoch"] == 0
    assert not (run_dir / "checkpoints" / "interrupted.ckpt").exists()


def test_nan_loss_read_every_few_steps_names_the_window_and_keeps_the_checkpoint(train_config, monkeypatch):
    original = VAE.loss_terms

    def poisoned(self, x):
        terms = original(self, x)
        if self.trainer.global_step == 5:  # one bad step; the next ones are non-finite through the weights
            terms["recon"] = terms["recon"] + float("inf")
        return terms

    monkeypatch.setattr(VAE, "loss_terms", poisoned)
    cfg = train_config(SHORT)  # the default reads the sums every trainer.log_every_n_steps (50) batches
    assert cfg.callbacks.finite_loss_guard.every_n_steps == cfg.trainer.log_every_n_steps
    with pytest.raises(TrainingDiverged, match=r"one of steps 4\.\.7 .*non-finite .*recon"):
        train(cfg)  # read at the end of epoch 2 (steps 4..7), before its checkpoint is written
    run_dir = Path(cfg.paths.output_dir)
    assert load_checkpoint(run_dir / "checkpoints" / "last.ckpt")["epoch"] == 0
    assert all(torch.isfinite(w).all() for w in final_weights(run_dir).values())


def test_same_seed_gives_identical_metrics(mnist_dir, tmp_path):
    for name in ("a", "b"):
        train(compose_train([*SHORT, "trainer.max_epochs=2", "data.binarize=dynamic"], tmp_path / name, mnist_dir))
    assert metrics_of(tmp_path / "a") == metrics_of(tmp_path / "b")
    other = compose_train(
        [*SHORT, "trainer.max_epochs=2", "data.binarize=dynamic", "seed=7"], tmp_path / "c", mnist_dir
    )
    train(other)
    assert metrics_of(tmp_path / "c") != metrics_of(tmp_path / "a")


def test_interrupted_run_resumes_to_the_uninterrupted_result(mnist_dir, tmp_path):
    train(compose_train(SHORT, tmp_path / "straight", mnist_dir))

    interrupted = tmp_path / "interrupted"
    stop = [f"+callbacks.stop._target_={__name__}.InterruptAt", "+callbacks.stop.step=6"]  # mid second epoch
    with pytest.raises(SystemExit):
        train(compose_train([*SHORT, *stop], interrupted, mnist_dir))
    assert (interrupted / "checkpoints" / "interrupted.ckpt").exists()
    assert not (interrupted / "metrics.json").exists()

    train(compose_train([*SHORT, f"resume={interrupted}"], tmp_path / "resuming", mnist_dir))
    assert metrics_of(interrupted) == metrics_of(tmp_path / "straight")
    straight, resumed = final_weights(tmp_path / "straight"), final_weights(interrupted)
    assert all(torch.equal(straight[key], resumed[key]) for key in straight)


def test_resume_with_another_model_names_both_configs(mnist_dir, tmp_path):
    train(compose_train([*SHORT, "trainer.max_epochs=1"], tmp_path / "run", mnist_dir))
    cfg = compose_train([*SHORT, "latent=3", f"resume={tmp_path / 'run'}"], tmp_path / "other", mnist_dir)
    with pytest.raises(CheckpointError) as error:
        train(cfg)
    message = str(error.value)
    assert "latent_dim" in message and "'latent_dim': 4" in message and "'latent_dim': 3" in message


class Payload:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_crafted_checkpoint_does_not_run_its_payload(train_config, tmp_path):
    marker, crafted = tmp_path / "payload-ran", tmp_path / "crafted.ckpt"
    torch.save({"state_dict": {}, "evil": Payload(marker)}, crafted)
    with pytest.raises(CheckpointError, match="weights-only"):
        load_checkpoint(crafted)
    with pytest.raises(Exception):  # noqa: B017 - Lightning's own loader, also weights-only
        train(train_config([*SHORT, f"ckpt_path={crafted}"]))
    assert not marker.exists()


def test_sigterm_saves_a_checkpoint_and_resume_finishes(mnist_dir, tmp_path):
    run_dir = tmp_path / "run"
    args = [
        "latent=4",
        "~logger",
        "figures.sample_epochs=[1]",
        "trainer.limit_train_batches=40",
        "trainer.limit_val_batches=1",
        "trainer.limit_test_batches=1",
        "trainer.enable_progress_bar=false",
    ]
    env = {**os.environ, "GENMODELS_DATA_DIR": str(mnist_dir), "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "genmodels.train", *args, "trainer.max_epochs=100", f"hydra.run.dir={run_dir}"]
    process = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 120
    while not (run_dir / "checkpoints" / "last.ckpt").exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    process.send_signal(signal.SIGTERM)
    output, _ = process.communicate(timeout=60)
    assert process.returncode != 0
    assert (run_dir / "checkpoints" / "interrupted.ckpt").exists(), output[-2000:]
    assert "Resume with: python -m genmodels.train" in output and f"resume={run_dir}" in output

    subprocess.run(
        [
            sys.executable,
            "-m",
            "genmodels.train",
            *args,
            "trainer.max_epochs=2",
            f"resume={run_dir}",
            f"hydra.run.dir={tmp_path / 'resume-log'}",
        ],
        cwd=REPO,
        env=env,
        check=True,
        capture_output=True,
    )
    summary = json.loads((run_dir / "metrics.json").read_text())
    assert summary["epochs"] == 2 and summary["resumed_from"].endswith("last.ckpt")


def test_failed_sweep_job_does_not_stop_the_others(run_cli, tmp_path):
    run_cli(
        "genmodels.train", "-m", "latent=0,2", "trainer.fast_dev_run=true", "~logger", f"hydra.sweep.dir={tmp_path}"
    )
    assert "latent" in json.loads((tmp_path / "0" / "failed.json").read_text())["error"]
    assert json.loads((tmp_path / "1" / "metrics.json").read_text())["latent"] == 2


def test_config_error_is_a_value_error():
    assert issubclass(ConfigError, ValueError)

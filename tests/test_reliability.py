"""Bad input, divergence, interruption and resume, determinism, and unsafe checkpoints."""

import errno
import json
import os
import re
import signal
import subprocess
import time
from pathlib import Path
from types import SimpleNamespace

import lightning as L
import pytest
import torch
from lightning.pytorch.utilities.exceptions import SIGTERMException

from genmodels.callbacks import fit_record
from genmodels.errors import (
    EXIT_ERROR,
    EXIT_INTERRUPTED,
    EXIT_TERMINATED,
    CheckpointError,
    ConfigError,
    GenmodelsError,
    RunFolderError,
    TrainingDiverged,
    command_errors,
    short_message,
)
from genmodels.models.vae import VAE
from genmodels.runs.atomic import AtomicCheckpointIO, write_json
from genmodels.runs.checkpoints import load_checkpoint
from genmodels.train import train
from tests.helpers import NO_FIGURES, QUICK_CLASSIFIER, TRUST_PAUSE, compose_train, pause_once, short_run, wait_for

SHORT = [*short_run(3, 4), "~logger", "latent=4", *NO_FIGURES]


class InterruptOnce(L.Callback):
    """Ctrl-C at training step ``step``, or while testing when ``step`` is None, by the first run to get there (it
    creates ``flag``); a resumed run, whose config still holds this callback, goes on."""

    def __init__(self, flag: str, step: int | None = None) -> None:
        self.flag, self.step = Path(flag), step

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        if trainer.global_step == self.step:
            self._interrupt()

    def on_test_batch_start(self, trainer, pl_module, batch, batch_idx, dataloader_idx=0):
        if self.step is None:
            self._interrupt()

    def _interrupt(self) -> None:
        if not self.flag.exists():
            self.flag.touch()
            raise KeyboardInterrupt


def interrupt_once(flag: Path, step: int | None = None) -> list[str]:
    overrides = [f"+callbacks.stop._target_={__name__}.InterruptOnce", f"+callbacks.stop.flag={flag}"]
    return overrides + ([f"+callbacks.stop.step={step}"] if step is not None else [])


def final_weights(run_dir: Path) -> dict[str, torch.Tensor]:
    return load_checkpoint(run_dir / "checkpoints" / "last.ckpt")["state_dict"]


def metrics_of(run_dir: Path) -> dict[str, float]:
    return json.loads((run_dir / "metrics.json").read_text())["metrics"]


@pytest.mark.parametrize(
    "override, message",
    [
        ("latent=0", "latent must"),
        ("latent=-3", "latent must"),
        ("data.batch_size=0", "data.batch_size must"),
        ("data.binarize=sometimes", "data.binarize must"),
        ("figures.sample_epochs=[0,2]", "figures.sample_epochs .*must"),
        ("trainer.max_epochs=0", "trainer.max_epochs must be at least 1, got 0.*fast_dev_run"),
        pytest.param(
            "trainer.accelerator=gpu",
            "trainer.accelerator=gpu needs a CUDA GPU.*Fix: trainer=default",
            marks=pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU"),
        ),
    ],
)
def test_bad_values_fail_before_anything_is_written(train_config, override, message):
    cfg = train_config([*SHORT, override])
    with pytest.raises(ConfigError, match=message):
        train(cfg)
    assert not Path(cfg.paths.output_dir).exists()  # no checkpoints, figures or metrics.json


def test_a_config_error_on_the_cli_is_one_line_and_leaves_no_folder(run_main, tmp_path):
    folder = tmp_path / "run"
    result = run_main("genmodels.train", "latent=0", f"hydra.run.dir={folder}", check=False)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == ["error: latent must be a positive integer (1, 2, ...), got 0"]
    assert not folder.exists()  # checked before the run claims a folder


def test_unknown_group_option_lists_valid_ones(run_main):
    result = run_main("genmodels.train", "model=transformer", check=False)
    assert result.returncode == 1
    assert "Could not find 'model/transformer'" in result.stderr and "vae" in result.stderr


@pytest.mark.parametrize(
    "term, every_n_steps, expected",
    [  # read every step: the step and the term (kl only), from step 5 on (in the second epoch, 4 batches each)
        ("kl", 1, r"(?s)step 5.*non-finite[^\n]*kl(?!.*recon).*model\.optimizer\.lr.*last\.ckpt"),
        # read every log_every_n_steps (the default): the window of steps at the end of epoch 2, before its
        # checkpoint; one bad step, then non-finite through the weights
        ("recon", None, r"one of steps 4\.\.7 .*non-finite .*recon"),
    ],
)
def test_a_non_finite_loss_stops_the_run_and_keeps_the_last_good_checkpoint(
    train_config, monkeypatch, term, every_n_steps, expected
):
    original = VAE.loss_terms

    def poisoned(self, x, k=1):
        terms = original(self, x, k)
        if self.trainer.global_step == 5 or (term == "kl" and self.trainer.global_step > 5):
            terms[term] = terms[term] * float("nan") if term == "kl" else terms[term] + float("inf")
        return terms

    monkeypatch.setattr(VAE, "loss_terms", poisoned)
    guard = [f"callbacks.finite_loss_guard.every_n_steps={every_n_steps}"] if every_n_steps else []
    cfg = train_config([*SHORT, *guard])
    assert every_n_steps or cfg.callbacks.finite_loss_guard.every_n_steps == cfg.trainer.log_every_n_steps
    with pytest.raises(TrainingDiverged, match=expected):
        train(cfg)
    run_dir = Path(cfg.paths.output_dir)
    assert all(torch.isfinite(w).all() for w in final_weights(run_dir).values())
    assert load_checkpoint(run_dir / "checkpoints" / "last.ckpt")["epoch"] == 0
    assert not (run_dir / "checkpoints" / "interrupted.ckpt").exists()


@pytest.mark.slow
def test_same_seed_gives_identical_metrics(mnist_dir, tmp_path):
    for name in ("a", "b"):
        train(compose_train([*SHORT, "trainer.max_epochs=2", "data.binarize=dynamic"], tmp_path / name, mnist_dir))
    assert metrics_of(tmp_path / "a") == metrics_of(tmp_path / "b")
    other = compose_train(
        [*SHORT, "trainer.max_epochs=2", "data.binarize=dynamic", "seed=7"], tmp_path / "c", mnist_dir
    )
    train(other)
    assert metrics_of(tmp_path / "c") != metrics_of(tmp_path / "a")


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """One torch thread, as in the CLI runs (OMP_NUM_THREADS=1): runs compared bit for bit add up in one order."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def straight_run(tmp_path_factory, mnist_dir) -> Path:
    """The uninterrupted run that interrupted and resumed runs of SHORT must reproduce."""
    folder = tmp_path_factory.mktemp("straight") / "run"
    train(compose_train(SHORT, folder, mnist_dir))
    return folder


def assert_same_result(run_dir: Path, straight_run: Path) -> None:
    assert metrics_of(run_dir) == metrics_of(straight_run)
    straight, resumed = final_weights(straight_run), final_weights(run_dir)
    assert all(torch.equal(straight[key], resumed[key]) for key in straight)


@pytest.mark.parametrize("step", [6, 2, None], ids=["mid second epoch", "mid first epoch", "while testing"])
def test_interrupted_run_resumes_to_the_uninterrupted_result(mnist_dir, tmp_path, straight_run, step):
    interrupted = tmp_path / "interrupted"
    stop = interrupt_once(tmp_path / "stopped", step)
    with pytest.raises(SystemExit):
        train(compose_train([*SHORT, *stop], interrupted, mnist_dir))
    if step is not None:  # a mid-epoch checkpoint; last.ckpt once an epoch (4 batches) is done
        assert (interrupted / "checkpoints" / "interrupted.ckpt").exists()
        assert (interrupted / "checkpoints" / "last.ckpt").exists() == (step > 4)
    assert not (interrupted / "metrics.json").exists()

    # From the last finished epoch (none: the start), never from the mid-epoch interrupted.ckpt; stopped while
    # testing, the train/val metrics come from the checkpoint (no epoch was left).
    train(compose_train([*SHORT, *stop, f"resume={interrupted}"], interrupted, mnist_dir))
    assert_same_result(interrupted, straight_run)
    assert {"train/neg_elbo", "val/neg_elbo", "test/neg_elbo"} <= set(metrics_of(interrupted))
    assert not (interrupted / "checkpoints" / "interrupted.ckpt").exists()  # passed, so removed


def test_fit_time_is_summed_over_the_parts(mnist_dir, tmp_path, monkeypatch):
    run_dir = tmp_path / "run"
    stop = interrupt_once(tmp_path / "flag", step=6)
    real_clock = time.perf_counter
    # A clock 1000 times too fast during the first part makes its share unmistakable in the sum.
    monkeypatch.setattr(fit_record, "time", SimpleNamespace(perf_counter=lambda: 1000 * real_clock()))
    with pytest.raises(SystemExit):
        train(compose_train([*SHORT, *stop], run_dir, mnist_dir))
    first_part = load_checkpoint(run_dir / "checkpoints" / "last.ckpt")["callbacks"]["FitRecord"]["seconds"]
    monkeypatch.setattr(fit_record, "time", time)

    started = real_clock()
    train(compose_train([*SHORT, *stop, f"resume={run_dir}"], run_dir, mnist_dir))
    second_part_bound = real_clock() - started
    summary = json.loads((run_dir / "metrics.json").read_text())
    assert first_part < summary["fit_wall_time_s"] < first_part + second_part_bound
    assert summary["seconds_per_epoch"] == pytest.approx(summary["fit_wall_time_s"] / 3, abs=1e-3)


def test_ckpt_path_may_name_a_run_folder(train_config, straight_run, tmp_path):
    _, objects = train(train_config([*SHORT, "trainer.max_epochs=4", f"ckpt_path={straight_run}"]))
    assert objects["summary"]["resumed_from"] == str(straight_run / "checkpoints" / "last.ckpt")
    assert objects["summary"]["epochs"] == 4  # continued from the folder's 3 epochs, in a folder of its own
    with pytest.raises(CheckpointError, match=f"{tmp_path} is a folder without checkpoints/last.ckpt. Fix:"):
        train(train_config([*SHORT, f"ckpt_path={tmp_path}"]))


def test_a_file_that_is_no_checkpoint_is_named_with_the_fix(train_config):
    if not Path("/etc/passwd").is_file():
        pytest.skip("needs /etc/passwd")
    with pytest.raises(CheckpointError, match=r"^/etc/passwd is not a checkpoint genmodels can load: .* Fix: "):
        train(train_config([*SHORT, "ckpt_path=/etc/passwd"]))  # the unpickler's IndexError, named


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
    with pytest.raises(CheckpointError, match=f"^{re.escape(str(crafted))} is not a checkpoint .*weights-only"):
        train(train_config([*SHORT, f"ckpt_path={crafted}"]))  # checked before Lightning loads it
    assert not marker.exists()


CLI_RUN = [*SHORT, "trainer.enable_progress_bar=false", "trainer.enable_model_summary=false"]


def test_resume_without_arguments_reproduces_the_uninterrupted_run(run_main, start_cli, tmp_path, straight_run):
    """The training command's own process: SIGTERM ends it with 143 and the resume command it prints; the resumes
    then run in this process."""
    logs = tmp_path / "logs"  # where a stray folder of a resume would appear
    pause = pause_once(tmp_path / "paused", step=6)  # mid second epoch
    run_dir = tmp_path / "run"
    process = start_cli("genmodels.train", *CLI_RUN, *pause, f"paths.log_dir={logs}", f"hydra.run.dir={run_dir}")
    wait_for(tmp_path / "paused", process)
    process.send_signal(signal.SIGTERM)
    output, _ = process.communicate(timeout=120)
    assert process.returncode == 143
    assert (run_dir / "checkpoints" / "interrupted.ckpt").exists(), output[-2000:]
    assert f"Resume with: python -m genmodels.train resume={run_dir}\n" in output
    first_part = load_checkpoint(run_dir / "checkpoints" / "last.ckpt")["callbacks"]["FitRecord"]["seconds"]

    config = {name: (run_dir / ".hydra" / name).read_text() for name in ("config.yaml", "overrides.yaml")}

    resumed = run_main("genmodels.train", f"resume={run_dir}", TRUST_PAUSE)  # no option of the run
    assert "epoch 1 of 3 done (checkpoints/last.ckpt), 2 to go" in resumed.stdout
    assert not logs.exists()  # the resume logged into its own folder, and made no other
    assert "Resuming" in (run_dir / "train.log").read_text()
    assert {name: (run_dir / ".hydra" / name).read_text() for name in config} == config  # the run's own
    assert_same_result(run_dir, straight_run)
    summary = json.loads((run_dir / "metrics.json").read_text())
    assert summary["epochs"] == 3 and summary["fit_wall_time_s"] > first_part  # both parts
    assert sorted(p.name for p in (run_dir / "checkpoints").iterdir()) == ["best-epoch003.ckpt", "last.ckpt"]

    # Overrides given with resume= apply on top of the run's own ones, and the run's config says so.
    run_main("genmodels.train", f"resume={run_dir}", TRUST_PAUSE, "trainer.max_epochs=4")
    assert "trainer.max_epochs=4" in (run_dir / ".hydra" / "overrides.yaml").read_text()
    assert "trainer.max_epochs=3" not in (run_dir / ".hydra" / "overrides.yaml").read_text()
    assert json.loads((run_dir / "metrics.json").read_text())["epochs"] == 4


def test_failed_sweep_job_does_not_stop_the_others(run_main, tmp_path):
    run_main(
        "genmodels.train",
        "-m",
        "latent=0,2",
        "trainer.fast_dev_run=true",
        "~logger",
        "callbacks=none",
        f"hydra.sweep.dir={tmp_path}",
    )
    assert "latent" in json.loads((tmp_path / "0" / "failed.json").read_text())["error"]
    assert json.loads((tmp_path / "1" / "metrics.json").read_text())["latent"] == 2


def test_a_library_error_in_a_model_is_a_short_message_naming_the_model_line(capsys):
    def log_likelihood(logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:  # a Bernoulli on grey levels
        return torch.distributions.Bernoulli(logits=logits).log_prob(x)

    with pytest.raises(ValueError) as caught:
        log_likelihood(torch.zeros(64, 1, 28, 28), torch.full((64, 1, 28, 28), 0.5))
    assert "\ntensor(" in str(caught.value)  # torch prints the whole batch
    message = short_message(caught.value)
    assert "support (Boolean())" in message and "tensor(" not in message and len(message.splitlines()) == 2
    assert f"{__file__}:" in message and "in log_likelihood" in message
    assert short_message(ConfigError("model.beta must be >= 0, got -1")) == "model.beta must be >= 0, got -1"
    with pytest.raises(SystemExit) as ended, command_errors():  # from a command: its traceback without tensors
        log_likelihood(torch.zeros(64, 784), torch.full((64, 784), 0.5))
    err = capsys.readouterr().err
    assert ended.value.code == EXIT_ERROR and "tensor(" not in err and len(err.splitlines()) < 30
    assert "ValueError: Expected value argument" in err and "in log_likelihood" in err


# ----------------------------------------------------------------------------------------------
# Nothing finished is lost: atomic writes, one exit convention


@pytest.mark.parametrize(
    "raised, status",
    [(ConfigError("bad"), EXIT_ERROR), (KeyboardInterrupt(), EXIT_INTERRUPTED), (SIGTERMException(), EXIT_TERMINATED)],
)
def test_every_command_ends_with_one_exit_convention(raised, status, capsys):
    with pytest.raises(SystemExit) as ended, command_errors():
        raise raised
    assert ended.value.code == status
    if isinstance(raised, ConfigError):
        assert capsys.readouterr().err == "error: bad\n"
    assert not issubclass(ConfigError, ValueError) and issubclass(ConfigError, GenmodelsError)
    with pytest.raises(ValueError), command_errors():  # a genuine ValueError (a bug) keeps its traceback
        raise ValueError("a bug")


def _full_disk(*args, **kwargs):
    raise OSError(errno.ENOSPC, "No space left on device")


@pytest.mark.parametrize(
    "name, write, message",
    [
        (
            "metrics.json",
            lambda path, v: write_json(path, {"v": v}),
            r"cannot write metrics.json into .*: No space left .* bytes needed",
        ),
        (
            "last.ckpt",
            lambda path, v: AtomicCheckpointIO().save_checkpoint({"state_dict": {"w": torch.full((v,), 1.0)}}, path),
            "last.ckpt",
        ),
    ],
)
def test_a_full_disk_keeps_the_previous_file_and_leaves_no_partial(tmp_path, monkeypatch, name, write, message):
    target = tmp_path / name
    write(target, 3)
    good = target.read_bytes()
    monkeypatch.setattr(os, "fsync", _full_disk)
    with pytest.raises(RunFolderError, match=message):
        write(target, 1000)
    assert target.read_bytes() == good and [p.name for p in tmp_path.iterdir()] == [name]


def test_a_real_full_disk_keeps_the_last_good_checkpoint(tmp_path):
    disk = tmp_path / "disk"
    disk.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(disk)], capture_output=True).returncode:
        pytest.skip("mounting a tmpfs is not permitted here")
    try:
        last = disk / "last.ckpt"
        AtomicCheckpointIO().save_checkpoint({"state_dict": {"w": torch.ones(250_000)}}, last)  # 1 MB
        good = last.read_bytes()
        with pytest.raises(RunFolderError, match="No space left"):
            AtomicCheckpointIO().save_checkpoint({"state_dict": {"w": torch.ones(600_000)}}, last)  # 2.4 MB
        assert last.read_bytes() == good and [p.name for p in disk.iterdir()] == ["last.ckpt"]
    finally:
        subprocess.run(["umount", str(disk)], check=True)


@pytest.mark.slow
def test_an_interrupted_wgan_gp_resumes_to_the_uninterrupted_result(mnist_dir, tmp_path):
    """5 critic steps per generator step and the moving average's image counter survive a resume."""
    narrow = [f"model.{net}.{option}" for net in ("generator", "discriminator") for option in ("width=4", "hidden=16")]
    run = [*short_run(2, 5), "~logger", "model=wgan_gp", *narrow, "model.ema_half_life=100", "model.ema_rampup=0.05"]
    run += [
        "~callbacks.samples",
        "~callbacks.interpolation",
        "~callbacks.curves",
        "callbacks.sample_quality.num_samples=100",
        *QUICK_CLASSIFIER,
        "data.batch_size=16",
    ]
    train(compose_train(run, tmp_path / "straight", mnist_dir))
    interrupted = tmp_path / "interrupted"
    stop = interrupt_once(tmp_path / "stopped", step=8)  # epoch 1 is 6 optimizer steps: 5 critic, 1 generator
    with pytest.raises(SystemExit):
        train(compose_train([*run, *stop], interrupted, mnist_dir))
    train(compose_train([*run, *stop, f"resume={interrupted}"], interrupted, mnist_dir))
    assert_same_result(interrupted, tmp_path / "straight")
    assert load_checkpoint(interrupted / "checkpoints" / "last.ckpt")["gan_images"] == {"seen": 160, "averaged": 160}

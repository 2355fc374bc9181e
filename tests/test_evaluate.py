"""The evaluate CLI and ``evaluate(cfg)`` on a real (fast_dev_run) VAE run, and its error messages."""

from __future__ import annotations

import errno
import json
import os
import shutil
import signal
import threading
from pathlib import Path

import pytest

from genmodels.data.provision import raw_dir
from genmodels.errors import EvaluationError
from genmodels.evaluate import evaluate
from genmodels.runs.checkpoints import CheckpointError, run_checkpoint
from genmodels.runs.folder import folder_lock
from genmodels.runs.loading import open_run, run_folder
from genmodels.train import train
from tests.helpers import QUICK_EVAL_CLASSIFIER, compose_evaluate, files_of

SMALL = ["metrics.iwae_k=50", "metrics.num_test_images=200", "metrics.num_samples=500", "progress=false"]


def test_cli_writes_the_evaluation_into_metrics_json_and_tensorboard(run_main, cli_vae_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(cli_vae_run, run)
    trained = json.loads((run / "metrics.json").read_text())
    result = run_main("genmodels.evaluate", f"run_dir={run}", *SMALL, *QUICK_EVAL_CLASSIFIER)
    assert "FID (MNIST classifier)" in result.stdout and "real-vs-real floor" in result.stdout

    summary = json.loads((run / "metrics.json").read_text())
    report = summary.pop("eval")
    assert summary == trained  # the training summary is kept as it was
    assert not (run / "eval.json").exists()  # one file holds the evaluation
    floored = {"fid_classifier", "inception_score", "class_entropy", "precision", "recall"}
    likelihood = {"test_neg_elbo", "test_neg_elbo_sem", "test_iwae_nll", "test_iwae_nll_sem", "iwae_gap"}
    assert likelihood | floored | {"classifier_test_accuracy", "inception_score_std"} <= set(report["metrics"])
    assert set(report["floors"]) == floored
    assert {"load", "neg_elbo", "iwae", "classifier", "sampling", "sample_metrics", "total"} <= set(report["timings_s"])
    assert report["binarization_note"].startswith("grey-level") and report["binarize"] == "none"
    assert report["settings"]["iwae_k"] == 50 and report["details"]["likelihood"]["num_test_images"] == 200
    assert report["details"]["sample_quality"]["num_samples"] == 500
    assert report["model"] == "VAE" and report["checkpoint"].endswith("last.ckpt")

    metrics = report["metrics"]
    assert metrics["test_iwae_nll"] <= metrics["test_neg_elbo"]  # IWAE tightens the bound
    assert 0 <= metrics["precision"] <= 1 and 0 <= metrics["recall"] <= 1
    assert report["floors"]["fid_classifier"] < metrics["fid_classifier"]  # an untrained VAE is far from data
    assert list((run / "tensorboard").glob("events.out.tfevents.*"))


@pytest.mark.parametrize("checkpoint", ["checkpoints/last.ckpt", "."], ids=["file", "run folder: its last"])
def test_evaluate_function_with_checkpoint_path_only(cli_vae_run, mnist_dir, tmp_path, checkpoint):
    settings = ["metrics.sample_quality=false", "metrics.iwae_k=20", "metrics.num_test_images=50", "progress=false"]
    given = f"ckpt_path={(cli_vae_run / checkpoint).resolve()}"
    report = evaluate(compose_evaluate([given, f"data_dir={mnist_dir}", *settings, "metrics.elbo_samples=1"]))
    assert Path(report["run_dir"]) == cli_vae_run.resolve()
    assert Path(report["checkpoint"]).resolve() == (cli_vae_run / "checkpoints" / "last.ckpt").resolve()
    assert set(report["floors"]) == set() and "fid_classifier" not in report["metrics"]
    assert report["metrics"]["test_iwae_nll"] <= report["metrics"]["test_neg_elbo"]
    assert report["details"]["likelihood"]["elbo_samples"] == 1
    with pytest.raises(CheckpointError, match=f"{tmp_path} is a folder without checkpoints/last.ckpt. Fix:"):
        run_folder(None, str(tmp_path))


def test_missing_run_checkpoint_and_config_are_one_line_naming_path_and_fix(cli_vae_run, tmp_path):
    cases = [
        (EvaluationError, "nothing to evaluate. Fix: pass run_dir=", lambda: run_folder(None, None)),
        (
            EvaluationError,
            f"run folder {tmp_path / 'nope'} does not exist. Fix",
            lambda: run_folder(tmp_path / "nope", None),
        ),
        (EvaluationError, r"run config .*config\.yaml does not exist, .* Fix", lambda: run_folder(tmp_path, None)),
    ]
    checkpoint = tmp_path / "checkpoints" / "last.ckpt"
    checkpoint.parent.mkdir()
    checkpoint.write_bytes(b"")
    cases.append((EvaluationError, r"config\.yaml does not exist.* Fix", lambda: run_folder(None, checkpoint)))
    for error, message, call in cases:
        with pytest.raises(error, match=message) as raised:
            call()
        assert "\n" not in str(raised.value)
    shutil.copytree(cli_vae_run / ".hydra", tmp_path / ".hydra")
    assert run_folder(None, checkpoint) == (tmp_path.resolve(), tmp_path.resolve() / ".hydra" / "config.yaml")
    checkpoint.unlink()
    with pytest.raises(EvaluationError, match=r"checkpoint .*last.ckpt does not exist. Fix: finish \(or resume\)"):
        open_run(tmp_path)


@pytest.mark.parametrize(
    ("monitor", "choice", "expected"),
    [
        ("val/fid_clf", "auto", "best-epoch004.ckpt"),  # a GAN: its best epoch by sample quality
        ("val/elbo", "auto", "last.ckpt"),  # a VAE is evaluated as it ended
        ("val/elbo", "best", "best-epoch004.ckpt"),
        ("val/fid_clf", "last", "last.ckpt"),
    ],
)
def test_run_checkpoint_choice(tmp_path, monitor, choice, expected):
    (tmp_path / "checkpoints").mkdir()
    for name in ("best-epoch004.ckpt", "last.ckpt"):
        (tmp_path / "checkpoints" / name).write_bytes(b"")
    assert run_checkpoint(tmp_path, choice, monitor).name == expected


def test_run_checkpoint_without_a_best_one_names_the_fix(tmp_path):
    (tmp_path / "checkpoints").mkdir()
    (tmp_path / "checkpoints" / "last.ckpt").write_bytes(b"")
    assert run_checkpoint(tmp_path, "auto").name == "last.ckpt"
    with pytest.raises(CheckpointError, match="(?s)holds no best-\\*.ckpt.*checkpoint=last"):
        run_checkpoint(tmp_path, "best")
    with pytest.raises(CheckpointError, match="checkpoint must be one of \\['auto', 'best', 'last'\\], got 'first'"):
        run_checkpoint(tmp_path, "first")


def test_checkpoint_of_another_model_names_both_configs(train_config, cli_vae_run, mnist_dir):
    other = train_config(["latent=3", "trainer.fast_dev_run=true", "callbacks=none", "~logger"])
    train(other)
    cfg = compose_evaluate(
        [
            f"run_dir={cli_vae_run}",
            f"ckpt_path={Path(other.paths.output_dir) / 'checkpoints' / 'last.ckpt'}",
            f"data_dir={mnist_dir}",
            "progress=false",
        ]
    )
    with pytest.raises(CheckpointError) as error:  # reported once, as what it is
        evaluate(cfg)
    message = str(error.value)
    assert "latent_dim" in message and "'latent_dim': 3" in message and "'latent_dim': 2" in message


def test_ctrl_c_is_one_line_and_exit_status_130(start_cli, cli_vae_run):
    long_evaluation = ["metrics.iwae_k=5000", "metrics.sample_quality=false", "progress=false"]
    process = start_cli("genmodels.evaluate", f"run_dir={cli_vae_run}", *long_evaluation, separate_stderr=True)
    watchdog = threading.Timer(300, process.kill)
    watchdog.start()
    try:
        started = next((line for line in process.stdout if line.startswith("Evaluating")), None)
        assert started is not None, process.stderr.read()[-3000:]
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=120)
    finally:
        watchdog.cancel()
    assert process.returncode == 130
    assert stderr.strip().splitlines() == [
        "interrupted (Ctrl-C); nothing finished was lost. Run the same command again to go on."
    ]


def test_a_sweep_folder_is_named_as_such_with_its_jobs(tmp_path):
    for job in ("0", "1"):
        (tmp_path / job / ".hydra").mkdir(parents=True)
        (tmp_path / job / ".hydra" / "config.yaml").write_text("model: {}\n")
    with pytest.raises(
        EvaluationError, match=rf"(?s)is a sweep folder.*{tmp_path / '0'}\n.*{tmp_path / '1'}\n.*compare"
    ):
        run_folder(tmp_path, None)


def unwritable_classifier_cache(tmp_path: Path, mnist_dir: Path) -> Path:
    """A data folder with the real MNIST files and a classifier cache folder nobody can write (sysfs)."""
    data_dir = tmp_path / "data"
    raw_dir(data_dir, "mnist").mkdir(parents=True)
    for path in raw_dir(mnist_dir, "mnist").iterdir():
        (raw_dir(data_dir, "mnist") / path.name).symlink_to(path)
    (data_dir / "classifiers").symlink_to("/sys/kernel")
    return data_dir


@pytest.mark.parametrize("case", ["no run folder", "no checkpoint", "unwritable cache"])
def test_a_refused_evaluation_is_one_message_without_traceback(run_main, cli_vae_run, mnist_dir, tmp_path, case):
    if not Path({"no checkpoint": "/etc/passwd", "unwritable cache": "/sys/kernel"}.get(case, "/")).exists():
        pytest.skip("needs /etc/passwd and Linux's /sys")
    missing, data_dir = tmp_path / "no_such_run", tmp_path / "data"
    arguments, said, fix = {
        "no run folder": ([f"run_dir={missing}"], f"run folder {missing} does not exist", "Fix:"),
        "no checkpoint": (["ckpt_path=/etc/passwd"], "/etc/passwd is not a checkpoint", "Fix: pass a checkpoint"),
        "unwritable cache": (
            [f"data_dir={data_dir}", "metrics.likelihood=false", *QUICK_EVAL_CLASSIFIER],
            f"cannot write into {data_dir / 'classifiers'} (",
            "data_dir=<folder>",
        ),
    }[case]
    if case == "unwritable cache":
        unwritable_classifier_cache(tmp_path, mnist_dir)
    run = [] if case == "no run folder" else [f"run_dir={cli_vae_run}"]
    result = run_main("genmodels.evaluate", *run, *arguments, check=False)
    assert result.returncode == 1 and result.stderr.startswith(f"error: {said}") and fix in result.stderr
    assert "Traceback" not in result.stderr and result.stderr.count("error:") == 1
    assert case == "no run folder" or len(result.stderr.strip().splitlines()) == 1
    assert not missing.exists()  # nothing was created there


QUICK_LIKELIHOOD = ["metrics.sample_quality=false", "metrics.iwae_k=5", "metrics.num_test_images=20", "progress=false"]


@pytest.fixture(scope="module")
def evaluated_run(run_main, cli_vae_run, tmp_path_factory) -> Path:
    """A copy of the shared VAE run, evaluated once."""
    run = tmp_path_factory.mktemp("evaluated") / "run"
    shutil.copytree(cli_vae_run, run)
    run_main("genmodels.evaluate", f"run_dir={run}", *QUICK_LIKELIHOOD)
    return run


def refused_evaluation(run_main, run: Path, *settings: str) -> str:
    """The one line of an evaluation of ``run`` that is refused; the folder is checked to be byte-identical."""
    before = files_of(run)
    result = run_main("genmodels.evaluate", f"run_dir={run}", *settings, check=False)
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 1 and len(lines) == 1 and lines[0].startswith("error: "), result.stderr[-3000:]
    assert files_of(run) == before  # metrics.json as it was, no eval.json, no partial file
    return lines[0]


def test_a_damaged_metrics_json_stops_the_evaluation_before_it_computes(run_main, evaluated_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(evaluated_run, run)
    metrics = run / "metrics.json"
    metrics.write_bytes(metrics.read_bytes()[:700])
    line = refused_evaluation(run_main, run, *QUICK_LIKELIHOOD, "metrics.iwae_k=20")
    assert line.startswith(f"error: {metrics} is damaged (JSONDecodeError: ") and "nothing was evaluated" in line


def test_a_failed_final_write_leaves_the_run_as_it_was(run_main, evaluated_run, tmp_path, monkeypatch):
    run = tmp_path / "run"
    shutil.copytree(evaluated_run, run)
    replace = os.replace

    def full_disk(source, destination):  # the disk fills up as metrics.json is renamed into place
        if str(destination).endswith("metrics.json"):
            raise OSError(errno.ENOSPC, "No space left on device")
        replace(source, destination)

    monkeypatch.setattr(os, "replace", full_disk)
    line = refused_evaluation(run_main, run, *QUICK_LIKELIHOOD, "metrics.iwae_k=20")
    assert line.startswith(f"error: cannot write metrics.json into {run}: No space left on device")
    assert json.loads((run / "metrics.json").read_text())["eval"]["settings"]["iwae_k"] == 5  # the earlier one


def test_evaluate_refuses_a_run_whose_lock_is_held(run_main, evaluated_run):
    with folder_lock(evaluated_run):  # as a resume of it holds it while it trains
        line = refused_evaluation(run_main, evaluated_run, *QUICK_LIKELIHOOD)
    assert f"{evaluated_run} is in use by another running process" in line and "evaluate it once that run" in line

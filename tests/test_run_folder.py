"""Run folders: unique names, refusal of another run's folder, resume without strays, sweeps run again."""

import contextlib
import json
import shlex
import shutil
import signal
import subprocess
from pathlib import Path

import pytest
import torch
import yaml
from omegaconf import OmegaConf

from genmodels.runs.checkpoints import load_checkpoint
from genmodels.runs.folder import folder_lock, sweep_folder
from tests.helpers import QUICK, pause_once, wait_for

# Every run of the process believes it is 2024-01-01 12:00:00.
FROZEN_CLOCK = """
import datetime
import hydra.core.utils

class FrozenClock(datetime.datetime):
    @classmethod
    def now(cls, tz=None):
        return cls(2024, 1, 1, 12, 0, 0)

hydra.core.utils.datetime = FrozenClock  # the clock of Hydra's ${now:...}
"""


def files_of(folder: Path) -> dict[Path, bytes]:
    return {path: path.read_bytes() for path in folder.rglob("*") if path.is_file()}


def one_line_error(result: subprocess.CompletedProcess) -> str:
    """The single message a refused command printed (and checks that it printed nothing else)."""
    assert result.returncode == 1, result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, result.stderr[-3000:]
    return errors[0]


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory, run_main) -> Path:
    run_dir = tmp_path_factory.mktemp("finished") / "run"
    run_main("genmodels.train", *QUICK, "latent=2", "trainer.max_epochs=1", f"hydra.run.dir={run_dir}")
    return run_dir


@pytest.mark.slow
def test_runs_started_in_the_same_second_get_folders_of_their_own(start_cli, tmp_path):
    logs = tmp_path / "logs"
    processes = {
        latent: start_cli(
            "genmodels.train",
            *QUICK,
            f"latent={latent}",
            "trainer.max_epochs=1",
            f"paths.log_dir={logs}",
            prelude=FROZEN_CLOCK,
        )
        for latent in (2, 7)
    }
    for process in processes.values():
        output, _ = process.communicate(timeout=300)
        assert process.returncode == 0, output[-3000:]

    folders = sorted((logs / "train" / "runs").iterdir())
    assert len(folders) == 2 and all(f.name.startswith("2024-01-01_12-00-00_") for f in folders)
    latents = set()
    for folder in folders:  # each folder holds one run, whole and consistent
        latent = json.loads((folder / "metrics.json").read_text())["latent"]
        assert f"latent={latent}" in yaml.safe_load((folder / ".hydra" / "overrides.yaml").read_text())
        assert yaml.safe_load((folder / ".hydra" / "config.yaml").read_text())["latent"] == latent
        checkpoints = sorted(p.name for p in (folder / "checkpoints").iterdir())
        assert checkpoints == ["best-epoch001.ckpt", "last.ckpt"]
        assert load_checkpoint(folder / "checkpoints" / "last.ckpt")["hyper_parameters"]["latent_dim"] == latent
        latents.add(latent)
    assert latents == {2, 7}


def damage_config(change):
    def damage(run: Path) -> None:
        config = run / ".hydra" / "config.yaml"
        config.write_text(change(config.read_text()))

    return damage


def truncate_last_checkpoint(run: Path) -> None:
    last = run / "checkpoints" / "last.ckpt"
    last.write_bytes(last.read_bytes()[:1000])


NEW_RUN = [*QUICK, "latent=7", "trainer.max_epochs=1", "hydra.run.dir={run}"]
FOREIGN = damage_config(lambda text: text.replace("_target_: genmodels.models.vae.VAE", "_target_: shutil.copyfile"))
REFUSED = {  # what a finished run's copy goes through, the training command's arguments, what its error says
    "new run": (None, NEW_RUN, ["{run} already holds a run", "latent=7", "python -m genmodels.train resume={run}"]),
    "model changed": (None, ["resume={run}", "latent=3", "model.beta=2"], ["latent=3 model.beta=2 would change"]),
    "no gpu": (None, ["resume={run}", "trainer.max_epochs=5", "trainer.accelerator=gpu"], ["needs a CUDA GPU"]),
    "cut config": (damage_config(lambda text: text[:300]), ["resume={run}"], ["is not valid YAML"]),
    "bad yaml": (damage_config(lambda text: "model: [\n  a: b\n"), ["resume={run}"], ["is not valid YAML"]),
    "empty config": (damage_config(lambda text: ""), ["resume={run}"], ["is empty or cut short"]),
    "foreign target": (FOREIGN, ["resume={run}"], ["shutil"]),
    "cut checkpoint": (truncate_last_checkpoint, ["resume={run}", "trainer.max_epochs=2"], ["Fix: move"]),
    "in use": (None, ["resume={run}"], ["is in use by another running process"]),  # locked as by a running run
}


@pytest.mark.parametrize("case", REFUSED)
def test_a_refused_command_says_why_in_one_line_and_writes_nothing(run_main, finished_run, tmp_path, case):
    if case == "no gpu" and torch.cuda.is_available():
        pytest.skip("needs a machine without a GPU")
    damage, arguments, said = REFUSED[case]
    run = tmp_path / "run"
    shutil.copytree(finished_run, run)
    if damage:
        damage(run)
    with folder_lock(run) if case == "in use" else contextlib.nullcontext():
        before = files_of(run)
        result = run_main("genmodels.train", *[a.replace("{run}", str(run)) for a in arguments], check=False)
    message = one_line_error(result)
    assert all(part.replace("{run}", str(run)) in message for part in said), message
    assert result.stderr.count("Fix:") <= 1
    assert files_of(run) == before  # not a byte written, not even a failed.json: metrics.json and .hydra kept


def test_evaluate_refuses_a_config_that_names_a_foreign_callable(run_main, finished_run, tmp_path):
    run, copied = tmp_path / "run", tmp_path / "copied"
    shutil.copytree(finished_run, run)
    config = run / ".hydra" / "config.yaml"
    cfg = OmegaConf.load(config)
    cfg.model = {"_target_": "shutil.copyfile", "_args_": [str(config), str(copied)]}
    OmegaConf.save(cfg, config)
    message = one_line_error(run_main("genmodels.evaluate", f"run_dir={run}", check=False))
    assert "model._target_=shutil.copyfile" in message and "trust_run_config=true" in message
    assert not copied.exists()


def test_resume_of_a_folder_without_a_run_creates_nothing(run_main, tmp_path):
    missing, logs = tmp_path / "typo", tmp_path / "logs"
    result = run_main("genmodels.train", f"resume={missing}", f"paths.log_dir={logs}", check=False)
    assert "names no training run" in one_line_error(result)
    assert not missing.exists() and not logs.exists()


def test_resume_inside_a_sweep_is_refused_before_a_folder_is_made():
    with pytest.raises(SystemExit, match=r"^error: resume=runs/a continues one run and cannot be part of a sweep"):
        sweep_folder("multiruns/2024-01-01_12-00-00", resume="runs/a")  # Hydra resolves it before making the folder
    assert sweep_folder("multiruns/2024-01-01_12-00-00") != sweep_folder("multiruns/2024-01-01_12-00-00")


@pytest.mark.slow
def test_a_stopped_sweep_run_again_finishes_only_the_missing_jobs(run_cli, start_cli, tmp_path):
    sweep = tmp_path / "sweep"
    # Job 1 (latent 3) pauses at its third step, in its second epoch, where SIGTERM stops the sweep.
    pause = pause_once(tmp_path / "paused", step=2, latent=3)
    args = ["-m", "latent=2,3,4", *QUICK, "trainer.max_epochs=2", *pause, f"hydra.sweep.dir={sweep}"]
    process = start_cli("genmodels.train", *args)
    wait_for(tmp_path / "paused", process)
    process.send_signal(signal.SIGTERM)
    output, _ = process.communicate(timeout=120)
    assert process.returncode == 143, output[-3000:]
    assert f"Resume with: python -m genmodels.train resume={sweep / '1'}\n" in output  # that job alone
    assert (sweep / "0" / "metrics.json").exists() and not (sweep / "1" / "metrics.json").exists()
    assert not (sweep / "2").exists()
    finished = (sweep / "0" / "metrics.json").stat().st_mtime_ns

    # The printed command for the whole sweep is the sweep's own command in its folder.
    prefix = "or continue the whole sweep (finished jobs are skipped): "
    printed = next(line for line in output.splitlines() if line.startswith(prefix))[len(prefix) :]
    command = shlex.split(printed)
    assert command[:4] == ["python", "-m", "genmodels.train", "-m"]
    run_cli(*command[2:])  # as printed, with this environment's Python

    assert (sweep / "0" / "metrics.json").stat().st_mtime_ns == finished  # skipped
    assert "this run has finished" in (sweep / "0" / "train.log").read_text()
    resumed = json.loads((sweep / "1" / "metrics.json").read_text())
    assert resumed["latent"] == 3 and resumed["epochs"] == 2 and resumed["resumed_from"].endswith("last.ckpt")
    assert not (sweep / "1" / "checkpoints" / "interrupted.ckpt").exists()
    assert json.loads((sweep / "2" / "metrics.json").read_text())["latent"] == 4
    assert not any((sweep / job / "failed.json").exists() for job in ("0", "1", "2"))

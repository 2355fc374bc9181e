"""A run folder is data: model options its classes refuse, a checkpoint whose parts have the wrong shape, or a damaged
file in a sweep's job folder end in one ``error:`` line naming the file and the fix (``evaluate``, ``load_run``), or
in a row marked damaged (``compare``, which still compares the other jobs), never in a traceback."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
import yaml

from genmodels import compare
from genmodels.errors import CheckpointError, ConfigError
from genmodels.runs.checkpoints import load_checkpoint
from genmodels.runs.loading import load_run
from tests.helpers import files_of

CONFIG, CHECKPOINT = Path(".hydra") / "config.yaml", Path("checkpoints") / "last.ckpt"


def section_edited(section: str, change: Callable[[dict], None]) -> Callable[[Path], None]:
    """A damage that edits one section of the run's config."""

    def damage(run: Path) -> None:
        config = yaml.safe_load((run / CONFIG).read_text())
        change(config[section])
        (run / CONFIG).write_text(yaml.safe_dump(config, sort_keys=False))

    return damage


def checkpoint_edited(change: Callable[[dict], None]) -> Callable[[Path], None]:
    """A damage that edits what the run's ``last.ckpt`` holds."""

    def damage(run: Path) -> None:
        state = torch.load(run / CHECKPOINT, weights_only=True)
        change(state)
        torch.save(state, run / CHECKPOINT)

    return damage


NEGATIVE_LINEAR = {"_target_": "torch.nn.Linear", "in_features": -1, "out_features": 2}  # an allowed class
# (damage, the file the error line names, what it says after the file's name)
CASES = {
    "an unknown model option": (
        section_edited("model", lambda model: model.update(bogus=1)),
        CONFIG,
        "is damaged: model.bogus is not an option of genmodels.models.vae.VAE",
    ),
    "model.beta: abc": (
        section_edited("model", lambda model: model.update(beta="abc")),
        CONFIG,
        "is damaged: model.beta must be of type float (genmodels.models.vae.VAE takes beta: float), got 'abc'",
    ),
    "a value its constructor refuses": (
        section_edited("model", lambda model: model.update(beta=-1.0)),
        CONFIG,
        "is damaged: model.beta must be >= 0, got -1.0",
    ),
    "a network torch refuses": (
        section_edited("model", lambda model: model.update(decoder=NEGATIVE_LINEAR)),
        CONFIG,
        "is damaged: its model cannot be built (RuntimeError: ",
    ),
    "hyper_parameters a list": (
        checkpoint_edited(lambda state: state.update(hyper_parameters=[1])),
        CHECKPOINT,
        "is not a checkpoint genmodels can load: its hyper_parameters is not a mapping of model options",
    ),
    "state_dict a list": (
        checkpoint_edited(lambda state: state.update(state_dict=[1])),
        CHECKPOINT,
        "is not a checkpoint genmodels can load: its state_dict is not a mapping of parameter names to tensors",
    ),
    "epoch a string": (
        checkpoint_edited(lambda state: state.update(epoch="x")),
        CHECKPOINT,
        "is not a checkpoint genmodels can load: its epoch is 'x', not a count",
    ),
    "data its class refuses": (
        section_edited("data", lambda data: data.update(val_size=0)),
        CONFIG,
        "is damaged: data.val_size must be between 1 and 59999, got 0",
    ),
    "a weight missing": (
        checkpoint_edited(lambda state: state["state_dict"].popitem()),
        CHECKPOINT,
        "holds weights that do not fit the model of",
    ),
}


@pytest.mark.parametrize("case", CASES)
def test_a_crafted_run_folder_is_one_line_and_changes_nothing(run_main, cli_vae_run, tmp_path, case):
    damage, name, said = CASES[case]
    run = tmp_path / "run"
    shutil.copytree(cli_vae_run, run)
    damage(run)
    before = files_of(run)
    result = run_main("genmodels.evaluate", f"run_dir={run}", "metrics.sample_quality=false", check=False)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {run / name} {said}"), result.stderr[-3000:]
    assert lines[0].count("Fix:") == 1
    assert files_of(run) == before
    if case != "data its class refuses":  # load_run builds the model only
        with pytest.raises(ConfigError if name == CONFIG else CheckpointError):
            load_run(run)


@pytest.mark.parametrize(
    ("part", "said"),
    [
        ({"global_step": True}, "its global_step is True, not a count"),
        ({"loops": {"fit_loop": []}}, "its loops do not count the epochs it finished"),
        ({"state_dict": {"weight": 1.0}}, "its state_dict is not a mapping of parameter names to tensors"),
    ],
)
def test_a_checkpoint_of_the_wrong_shape_is_refused_by_name(tmp_path, part, said):
    crafted = tmp_path / "crafted.ckpt"
    torch.save({"state_dict": {"weight": torch.zeros(1)}, "epoch": 0, **part}, crafted)
    refused = rf"^{re.escape(str(crafted))} is not a checkpoint genmodels can load: {said}.* Fix: "
    with pytest.raises(CheckpointError, match=refused):
        load_checkpoint(crafted)


def sweep_of_two(folder: Path) -> Path:
    """A sweep folder of two finished jobs, ``0`` (latent=2) and ``1`` (latent=5)."""
    for job, latent in enumerate((2, 5)):
        (folder / str(job) / ".hydra").mkdir(parents=True)
        (folder / str(job) / ".hydra" / "overrides.yaml").write_text(f"- latent={latent}\n- debug=tiny\n")
        summary = {"latent": latent, "epochs": 1, "metrics": {"test/neg_elbo": 100.0 + latent}}
        (folder / str(job) / "metrics.json").write_text(json.dumps(summary))
    return folder


def failed_with(content: bytes) -> Callable[[Path], None]:
    def damage(job: Path) -> None:
        (job / "metrics.json").unlink()
        (job / "failed.json").write_bytes(content)

    return damage


def written(name: str, content: bytes) -> Callable[[Path], None]:
    return lambda job: (job / name).write_bytes(content)


JOB_DAMAGE = {
    "failed.json a list": (failed_with(b"[1]"), "latent=5", "failed.json holds a JSON list, not an object"),
    "failed.json cut short": (failed_with(b'{"err'), "latent=5", "failed.json is damaged (JSONDecodeError"),
    "eval a string": (
        written("metrics.json", b'{"latent": 5, "metrics": {}, "eval": "x"}'),
        "latent=5",
        'metrics.json is damaged (eval is "x")',
    ),
    "overrides not YAML": (
        written(".hydra/overrides.yaml", b"- [latent=5\n"),
        "",
        ".hydra/overrides.yaml is not valid YAML (ParserError",
    ),
    "overrides a mapping": (
        written(".hydra/overrides.yaml", b"latent: 5\n"),
        "",
        ".hydra/overrides.yaml is not a list of overrides",
    ),
}


@pytest.mark.parametrize("case", JOB_DAMAGE)
def test_compare_lists_a_damaged_job_and_compares_the_others(tmp_path, case):
    damage, overrides, said = JOB_DAMAGE[case]
    sweep = sweep_of_two(tmp_path / "sweep")
    damage(sweep / "1")
    assert compare.main([str(sweep)]) == 0
    table = (sweep / "comparison.md").read_text().splitlines()
    assert any(line.startswith("| 0 | latent=2") and "102.00" in line for line in table), table
    damaged = [line for line in table if line.startswith("- `1`")]
    assert len(damaged) == 1 and damaged[0].startswith(f"- `1` ({overrides}): damaged: "), table
    assert said in damaged[0], table
    assert damaged[0].count("Fix:") == 1


def test_compare_never_resolves_an_interpolation_of_a_job_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("GENMODELS_TEST_SECRET", "hunter2")
    sweep = sweep_of_two(tmp_path / "sweep")
    (sweep / "0" / ".hydra" / "overrides.yaml").write_text("- latent=${oc.env:GENMODELS_TEST_SECRET}\n")
    (sweep / "1" / ".hydra" / "overrides.yaml").write_text("- ${nosuch:x}\n")
    assert compare.main([str(sweep)]) == 0
    for name in ("comparison.md", "comparison.csv"):
        text = (sweep / name).read_text()
        assert "latent=${oc.env:GENMODELS_TEST_SECRET}" in text and "${nosuch:x}" in text and "hunter2" not in text


@pytest.mark.parametrize("case", ["an unknown model option", "a value its constructor refuses"])
def test_a_resume_of_a_folder_whose_model_options_are_refused_names_the_file(run_main, cli_vae_run, tmp_path, case):
    damage, name, said = CASES[case]
    run = tmp_path / "run"
    shutil.copytree(cli_vae_run, run)
    damage(run)
    before = files_of(run)
    result = run_main("genmodels.train", f"resume={run}", "trainer.max_epochs=2", check=False)
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert len(errors) == 1 and errors[0].startswith(f"error: {run / name} {said}"), result.stderr[-3000:]
    assert files_of(run) == before

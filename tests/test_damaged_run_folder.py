"""A run is resumed or evaluated only from a complete, valid definition: any damage to its ``.hydra/config.yaml``,
``overrides.yaml`` or checkpoint (written by mistake or crafted: options its classes refuse, parts of the wrong
shape) is one ``error:`` line naming the file and the fix, and the folder stays byte-identical."""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
import yaml

from genmodels.errors import CheckpointError, ConfigError
from genmodels.runs.loading import load_run
from tests.helpers import files_of

CONFIG, OVERRIDES = Path(".hydra") / "config.yaml", Path(".hydra") / "overrides.yaml"
CHECKPOINT = Path("checkpoints") / "last.ckpt"


def edited(change: Callable[[dict], None]) -> Callable[[Path], None]:
    """A damage that edits the parsed config."""

    def damage(run: Path) -> None:
        config = yaml.safe_load((run / CONFIG).read_text())
        change(config)
        (run / CONFIG).write_text(yaml.safe_dump(config, sort_keys=False))

    return damage


def checkpoint_edited(change: Callable[[dict], None]) -> Callable[[Path], None]:
    """A damage that edits what the run's ``last.ckpt`` holds."""

    def damage(run: Path) -> None:
        state = torch.load(run / CHECKPOINT, weights_only=True)
        change(state)
        torch.save(state, run / CHECKPOINT)

    return damage


def cut_before(section: str) -> Callable[[Path], None]:
    """A config cut at the line where ``section`` starts."""

    def damage(run: Path) -> None:
        text = (run / CONFIG).read_text()
        (run / CONFIG).write_text(text[: text.index(f"\n{section}:") + 1])

    return damage


def written(name: Path, content: bytes) -> Callable[[Path], None]:
    return lambda run: (run / name).write_bytes(content)


def keep_only(*sections: str) -> Callable[[dict], None]:
    return lambda config: [config.pop(key) for key in list(config) if key not in sections]


# (damage, what the error line says after the file's name)
CONFIG_DAMAGE = {
    "binary garbage": (written(CONFIG, b"\xff\xfe\x00\x81garbage\x00\x9c"), "is not valid YAML (UnicodeDecodeError"),
    "a YAML list": (written(CONFIG, b"- model\n- data\n"), "holds a YAML list, not a run config"),
    "model: 5": (edited(lambda c: c.update(model=5)), "is damaged: model is not an object with a _target_ class"),
    "model without _target_": (edited(lambda c: c["model"].pop("_target_")), "is damaged: model is not an object with"),
    "broken interpolation": (
        edited(lambda c: c["model"].update(latent_dim="${nope.latent}")),
        "is damaged: an interpolation does not resolve (InterpolationKeyError",
    ),
    "a wrong type": (edited(lambda c: c.update(seed="abc")), "is damaged: Value 'abc' of type 'str' could not"),
    "only model, data and trainer": (
        edited(keep_only("model", "data", "trainer")),
        "is empty or cut short (no task_name, seed, latent",
    ),
    "cut before callbacks": (cut_before("callbacks"), "is empty or cut short (no callbacks, logger, classifier"),
    "cut before figures": (cut_before("figures"), "is empty or cut short (no figures, speed, paths, data, model"),
    # Model options its classes refuse: checked against their signatures, then by their constructors.
    "an unknown model option": (
        edited(lambda c: c["model"].update(bogus=1)),
        "is damaged: model.bogus is not an option of genmodels.models.vae.VAE",
    ),
    "model.beta: abc": (
        edited(lambda c: c["model"].update(beta="abc")),
        "is damaged: model.beta must be of type float (genmodels.models.vae.VAE takes beta: float), got 'abc'",
    ),
    "a value its constructor refuses": (
        edited(lambda c: c["model"].update(beta=-1.0)),
        "is damaged: model.beta must be >= 0, got -1.0",
    ),
    "a network torch refuses": (
        edited(
            lambda c: c["model"].update(decoder={"_target_": "torch.nn.Linear", "in_features": -1, "out_features": 2})
        ),
        "is damaged: its model cannot be built (RuntimeError: ",
    ),
}
EVALUATE_ONLY = {  # a resume builds its data module as a new run does, and reads its checkpoint's epochs only
    "data its class refuses": (
        CONFIG,
        edited(lambda c: c["data"].update(val_size=0)),
        "is damaged: data.val_size must be between 1 and 59999, got 0",
    ),
    "hyper_parameters a list": (
        CHECKPOINT,
        checkpoint_edited(lambda state: state.update(hyper_parameters=[1])),
        "is not a checkpoint genmodels can load: its hyper_parameters is not a mapping of model options",
    ),
    "state_dict a list": (
        CHECKPOINT,
        checkpoint_edited(lambda state: state.update(state_dict=[1])),
        "is not a checkpoint genmodels can load: its state_dict is not a mapping of parameter names to tensors",
    ),
    "epoch a string": (
        CHECKPOINT,
        checkpoint_edited(lambda state: state.update(epoch="x")),
        "is not a checkpoint genmodels can load: its epoch is 'x', not a count",
    ),
    "a weight missing": (
        CHECKPOINT,
        checkpoint_edited(lambda state: state["state_dict"].popitem()),
        "holds weights that do not fit the model of",
    ),
}
OVERRIDES_DAMAGE = {
    "binary garbage": (written(OVERRIDES, b"\xff\xfe\x00"), "is not valid YAML (UnicodeDecodeError"),
    "a mapping": (written(OVERRIDES, b"latent: 2\n"), "is not a list of overrides"),
    "a list of lists": (written(OVERRIDES, b"- [latent=2]\n"), "is not a list of overrides"),
    "an unparsable override": (written(OVERRIDES, b"- latent=2\n- '=='\n"), "holds an override Hydra cannot parse"),
    "cut inside a list": (written(OVERRIDES, b"- [latent=2\n"), "is not valid YAML"),
}
CASES = [
    *(
        (f"config: {case}", CONFIG, *CONFIG_DAMAGE[case], command)
        for case in CONFIG_DAMAGE
        for command in ("evaluate", "resume")
    ),
    *((f"overrides: {case}", OVERRIDES, *OVERRIDES_DAMAGE[case], "resume") for case in OVERRIDES_DAMAGE),
    *((case, *EVALUATE_ONLY[case], "evaluate") for case in EVALUATE_ONLY),
]


@pytest.mark.parametrize(("case", "name", "damage", "said", "command"), CASES, ids=[f"{c[0]} / {c[-1]}" for c in CASES])
def test_a_damaged_definition_is_one_line_and_changes_nothing(
    run_main, cli_vae_run, tmp_path, case, name, damage, said, command
):
    run = tmp_path / "run"
    shutil.copytree(cli_vae_run, run)
    damage(run)
    before = files_of(run)
    if command == "evaluate":
        result = run_main("genmodels.evaluate", f"run_dir={run}", "metrics.sample_quality=false", check=False)
    else:
        result = run_main("genmodels.train", f"resume={run}", "trainer.max_epochs=2", check=False)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {run / name} {said}"), result.stderr[-3000:]
    assert lines[0].count("Fix:") == 1
    assert files_of(run) == before


@pytest.mark.parametrize(
    "case",
    [case for case in CASES if case[-1] == "evaluate" and case[0] != "data its class refuses"],  # load_run: no data
    ids=lambda case: case[0],
)
def test_load_run_refuses_a_damaged_model_config_or_checkpoint(cli_vae_run, tmp_path, case):
    _, name, damage, said, _ = case
    run = tmp_path / "run"
    shutil.copytree(cli_vae_run, run)
    damage(run)
    with pytest.raises(ConfigError if name == CONFIG else CheckpointError, match=re.escape(f"{run / name} {said}")):
        load_run(run)

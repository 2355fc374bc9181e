"""A run is resumed or evaluated only from a complete, valid definition: any damage to its ``.hydra/config.yaml``
or ``overrides.yaml`` is one ``error:`` line naming the file and the fix, and the folder stays byte-identical."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from tests.helpers import files_of

CONFIG, OVERRIDES = Path(".hydra") / "config.yaml", Path(".hydra") / "overrides.yaml"


def edited(change: Callable[[dict], None]) -> Callable[[Path], None]:
    """A damage that edits the parsed config."""

    def damage(run: Path) -> None:
        config = yaml.safe_load((run / CONFIG).read_text())
        change(config)
        (run / CONFIG).write_text(yaml.safe_dump(config, sort_keys=False))

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

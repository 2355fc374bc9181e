"""Commands the program prints work pasted into a shell, whatever the path holds (spaces, quotes, non-ASCII)."""

import json
import re
import shlex

import pytest
from hydra.core.override_parser.overrides_parser import OverridesParser

from genmodels.overrides import path_override, shell_command
from tests.helpers import QUICK

ODD_PATHS = ["/tmp/with space/run", "/tmp/caf\u00e9/run", "/tmp/it's/run", '/tmp/say "hi"/x', "/tmp/a,b=c", "back\\"]


@pytest.mark.parametrize("path", ODD_PATHS)
def test_a_printed_override_gives_hydra_the_path_back(path):
    (argument,) = shlex.split(shell_command("genmodels.train", [path_override("resume", path)]))[3:]
    override = OverridesParser.create().parse_override(argument)
    assert override.key_or_group == "resume" and override.value() == path


def test_plain_paths_stay_unquoted():
    assert shell_command("genmodels.train", [path_override("resume", "outputs/train/runs/x_1")]) == (
        "python -m genmodels.train resume=outputs/train/runs/x_1"
    )


def test_the_printed_resume_command_of_a_run_in_an_odd_folder_resumes_it(run_main, tmp_path):
    logs = tmp_path / "with space \u00e9'q"
    env = {"GENMODELS_LOG_DIR": str(logs)}
    run_main("genmodels.train", *QUICK, "latent=2", "trainer.max_epochs=1", env=env)
    (run,) = (logs / "train" / "runs").iterdir()

    told = run_main("genmodels.train", path_override("resume", run), env=env)  # finished: says how to go on
    printed = re.search(r"To train longer: (.+) trainer\.max_epochs=<more>", told.stdout + told.stderr).group(1)
    argv = shlex.split(printed)
    assert argv[:3] == ["python", "-m", "genmodels.train"]
    run_main("genmodels.train", *argv[3:], "trainer.max_epochs=2", env=env)
    assert json.loads((run / "metrics.json").read_text())["epochs"] == 2

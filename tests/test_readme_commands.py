"""Every ``python -m genmodels...`` and ``make ...`` command of the README and of ``docs/*.md`` works.

Commands come from the pages' code blocks and inline code. Placeholders such as ``<time>`` or ``<sweep dir>``
become real folders made here; optional ``[...]`` parts are dropped and ``a|b`` alternatives take the first.
Training commands are composed in this process with Hydra's compose API, as the command would compose them (an
unknown key, a wrong type or a missing option fails there; a sweep composes each of its first values), except
resumes, which run on a finished tiny run. Evaluations run in this process at tiny scale, compare runs on a tiny
sweep, the report and ``--help`` show their help, ``make`` commands are dry runs. Every ``python -m`` command runs
in this process (``helpers.run_main``), ``make`` in a process of its own.
"""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.override_parser.overrides_parser import OverridesParser
from torchvision.io import encode_png

from genmodels import compare
from genmodels.evaluate import evaluate
from tests.helpers import CONFIGS, QUICK_EVAL_CLASSIFIER, REPO, compose_evaluate, place_cifar10_archive

PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
TINY_EVALUATION = ["metrics.iwae_k=20", "metrics.num_test_images=50", "metrics.num_samples=200", "progress=false"]
TINY_EVALUATION += QUICK_EVAL_CLASSIFIER
# Placeholders, in the order they are replaced: (pattern, replacement; {run} and {sweep} are folders made here).
PLACEHOLDERS = [
    (r"outputs/train/runs/<[^>]+>|<run(?: dir| folder)?>", "{run}"),
    (r"outputs/train/multiruns/<[^>]+>|<sweep (?:dir|folder)>", "{sweep}"),
    (r"experiment=<name>", "experiment=report_vae_latent2"),
    (r"<job>", "0"),
    (r"<folder holding cifar-10-python\.tar\.gz>", "{cifar10_download}"),
    (r"<pictures folder>", "{pictures}"),
    (r"<folder>", "{out}"),
    (r"<([^<>|]+)\|[^<>]+>", r"\1"),  # <2|20> -> 2
]


def page_commands(text: str) -> list[str]:
    """The genmodels and make commands of a Markdown text, comments removed, in order of appearance."""
    found = []
    for block in re.findall(r"```[a-z]*\n(.*?)```", text, flags=re.S):
        for line in block.replace("\\\n", " ").splitlines():
            found.append(line.split(" #")[0].strip())
    outside_blocks = re.sub(r"```.*?```", "", text, flags=re.S)
    found += re.findall(r"`([^`\n]+)`", outside_blocks)
    commands = [c.replace("\\|", "|") for c in found if c.startswith(("python -m genmodels", "make "))]
    return list(dict.fromkeys(" ".join(command.split()) for command in commands))


def concrete(command: str) -> list[str]:
    """The command's arguments with placeholders filled in, optional parts dropped, first alternatives taken."""
    for pattern, replacement in PLACEHOLDERS:
        command = re.sub(pattern, replacement, command)
    command = re.sub(r"\s\[[^\]=]*\]", "", command)  # [--quick], [overrides]; not =[1,10,20]
    if "<" in command:
        raise AssertionError(f"unknown placeholder in a documented command: {command}")
    return [re.sub(r"^([\w-]+)\|[\w|-]+$", r"\1", argument) for argument in shlex.split(command)]


def first_job(overrides: list[str]) -> list[str]:
    """The overrides of a sweep's first job: each ``key=a,b,c`` at its first value."""
    parsed = OverridesParser.create().parse_overrides(overrides)
    return [
        f"{o.get_key_element()}={next(iter(o.sweep_string_iterator()))}" if o.is_sweep_override() else o.input_line
        for o in parsed
    ]


def fill(arguments: list[str], **folders: Path) -> list[str]:
    """``{run}``-style placeholders replaced by folders (str.format would trip over a command's own braces)."""
    for name, folder in folders.items():
        arguments = [argument.replace(f"{{{name}}}", str(folder)) for argument in arguments]
    return arguments


COMMANDS = {command: page.name for page in PAGES for command in page_commands(page.read_text())}


def test_the_readme_shows_commands_of_every_entry_point():
    shown = " ".join(c for c, page in COMMANDS.items() if page == "README.md")
    entries = ("genmodels.train", "genmodels.evaluate", "genmodels.sample", "genmodels.compare", "genmodels.report")
    for entry in (*entries, "genmodels.data"):
        assert f"python -m {entry}" in shown
    assert "make run" in shown and "make test" in shown


TRAIN = sorted(
    c for c in COMMANDS if c.startswith("python -m genmodels.train") and "resume=" not in c and " --" not in c
)


@pytest.mark.parametrize("command", TRAIN)
def test_training_command_composes(command):
    arguments = [a for a in concrete(command)[3:] if a != "-m"]
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONFIGS), version_base="1.3"):
        cfg = compose(config_name="train", overrides=first_job(arguments))
    assert cfg.model._target_ and cfg.data._target_


EVALUATE = sorted(c for c in COMMANDS if c.startswith("python -m genmodels.evaluate"))


@pytest.mark.parametrize("command", EVALUATE)
def test_evaluate_command_runs(command, cli_vae_run, cli_sweep):
    arguments = fill(concrete(command)[3:], run=cli_vae_run, sweep=cli_sweep)
    result = evaluate(compose_evaluate([*arguments, *TINY_EVALUATION]))
    assert result["metrics"]


def as_run(arguments: list[str]) -> list[str]:
    """What runs for a command: its help for the report, a dry run for make, the command itself otherwise."""
    if arguments[0] == "make":
        venv = Path(sys.prefix)
        return ["make", "-n", f"VENV={venv}", "-o", f"{venv}/.installed", *arguments[1:]]
    return ["python", "-m", "genmodels.report", "--help"] if arguments[2] == "genmodels.report" else arguments


# Each distinct command once (the report's commands all show its help).
OTHERS = sorted({tuple(as_run(concrete(c))): c for c in sorted(set(COMMANDS) - set(TRAIN) - set(EVALUATE))}.values())


@pytest.mark.parametrize("command", OTHERS)
def test_other_command_runs(command, run_main, cli_vae_run, cli_sweep, tmp_path, monkeypatch):
    pictures = tmp_path / "pictures"  # for reconstruct=: two blank 28 x 28 pictures
    pictures.mkdir()
    for name in ("a.png", "b.png"):
        (pictures / name).write_bytes(encode_png(torch.zeros(1, 28, 28, dtype=torch.uint8)).numpy().tobytes())
    folders = {"run": cli_vae_run, "sweep": cli_sweep, "out": tmp_path / "written", "pictures": pictures}
    arguments = as_run(fill(concrete(command), **folders))
    env = {"GENMODELS_LOG_DIR": str(tmp_path / "out")}
    if "{cifar10_download}" in arguments:  # not fetchable here: a generated archive, into a data folder of its own
        arguments = fill(arguments, cifar10_download=place_cifar10_archive(tmp_path / "download", monkeypatch))
        env["GENMODELS_DATA_DIR"] = str(tmp_path / "data")
    if arguments[2:3] == ["genmodels.compare"]:
        assert compare.main([*arguments[3:], "--out", str(tmp_path)]) == 0
        return
    if arguments[0] == "make":
        result = subprocess.run(arguments, cwd=REPO, capture_output=True, text=True, timeout=60)
    else:
        result = run_main(arguments[2], *arguments[3:], check=False, env=env)
    output = f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    assert result.returncode == 0, f"documented command failed: {command}\nran: {shlex.join(arguments)}\n{output}"

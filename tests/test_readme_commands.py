"""Every ``python -m genmodels...`` and ``make ...`` command in the README runs, at tiny scale.

Commands come from the README's code blocks and inline code (tables and prose). Placeholders such as
``<time>`` or ``<sweep dir>`` become real folders made here; optional ``[...]`` parts are dropped and
``a|b`` alternatives take the first. Training runs get a few batches and epochs; what cannot run on this
machine (a GPU, DDP on several devices, SLURM) is composed with ``--cfg job``; the report, whose
shortest mode takes minutes, shows its ``--help``; ``make test``/``test-all``/``setup-inception`` are dry runs.
"""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import QUICK_CLASSIFIER, QUICK_EVAL_CLASSIFIER, REPO, cli_env

README = REPO / "README.md"
TINY_TRAINING = [
    "trainer.limit_train_batches=2",
    "trainer.limit_val_batches=1",
    "trainer.limit_test_batches=1",
    "data.batch_size=16",
    "data.eval_batch_size=100",
    *QUICK_CLASSIFIER,  # a GAN's sample-quality scores
    "~logger",
]
TINY_EVALUATION = [
    "metrics.iwae_k=20",
    "metrics.num_test_images=50",
    "metrics.num_samples=200",
    *QUICK_EVAL_CLASSIFIER,
    "progress=false",
]
# Overrides that need hardware or a cluster this machine lacks: such commands are only composed.
COMPOSE_ONLY = ("trainer=gpu", "trainer=ddp", "hydra/launcher=slurm")
# Placeholders, in the order they are replaced: (pattern, replacement; {run} and {sweep} are folders made here).
PLACEHOLDERS = [
    (r"outputs/train/runs/<[^>]+>|<run(?: dir| folder)?>", "{run}"),
    (r"outputs/train/multiruns/<[^>]+>|<sweep dir>", "{sweep}"),
    (r"experiment=<name>", "experiment=report_vae_latent2"),
    (r"<job>", "0"),
    (r"<([^<>|]+)\|[^<>]+>", r"\1"),  # <2|20> -> 2
]


def readme_commands(text: str) -> list[str]:
    """The genmodels and make commands of a Markdown text, comments removed, in order of appearance."""
    found = []
    for block in re.findall(r"```[a-z]*\n(.*?)```", text, flags=re.S):
        for line in block.replace("\\\n", " ").splitlines():
            found.append(line.split(" #")[0].strip())
    outside_blocks = re.sub(r"```.*?```", "", text, flags=re.S)
    found += re.findall(r"`([^`\n]+)`", outside_blocks)
    commands = [c for c in found if c.startswith(("python -m genmodels", "make "))]
    return list(dict.fromkeys(" ".join(command.split()) for command in commands))


def concrete(command: str) -> list[str]:
    """The command's arguments with placeholders filled in, optional parts dropped, first alternatives taken."""
    for pattern, replacement in PLACEHOLDERS:
        command = re.sub(pattern, replacement, command)
    command = re.sub(r"\s\[[^\]=]*\]", "", command)  # [--quick], [overrides]; not =[1,10,20]
    if "<" in command:
        raise AssertionError(f"unknown placeholder in README command: {command}")
    return [re.sub(r"^([\w-]+)\|[\w|-]+$", r"\1", argument) for argument in shlex.split(command)]


def tiny(arguments: list[str]) -> list[str]:
    """The command as run here: at tiny scale, composed only, or a dry run.

    ``{run}``, ``{sweep}``, ``{out}`` (a folder for outputs) and ``{data}`` (the data folder) are filled in
    when it runs.
    """
    if arguments[0] == "make":
        return make_command(arguments)
    module, rest = arguments[2], arguments[3:]
    if any(flag in rest for flag in ("--help", "--cfg")):
        return arguments
    if module == "genmodels.train":
        if any(marker in rest for marker in COMPOSE_ONLY):
            return [*arguments[:3], *[a for a in rest if a != "-m"], "--cfg", "job"]
        if any(a.startswith("resume=") for a in rest):  # continues the tiny finished run with its own options
            return arguments
        sweep = "-m" in rest or any(a.startswith("hparams_search=") for a in rest)
        trials = ["hydra.sweeper.n_trials=2"] if any(a.startswith("hparams_search=") for a in rest) else []
        return effective([*arguments, *TINY_TRAINING, f"trainer.max_epochs={1 if sweep else 2}", *trials])
    if module == "genmodels.evaluate":
        return [*arguments, *TINY_EVALUATION]
    if module == "genmodels.compare":
        return [*arguments, "--out", "{out}"]
    if module == "genmodels.report":
        return [*arguments[:3], "--help"]
    return arguments


def effective(arguments: list[str]) -> list[str]:
    """The command with each overridden key once, at its last value (as Hydra applies them)."""
    flags = [a for a in arguments[3:] if "=" not in a]
    overrides = {a.split("=", 1)[0]: a for a in arguments[3:] if "=" in a}
    return [*arguments[:3], *flags, *sorted(overrides.values())]


def make_command(arguments: list[str]) -> list[str]:
    """``make`` with this environment's Python (no new .venv), the test data, and tiny training overrides."""
    venv = Path(sys.prefix)
    targets = [a for a in arguments[1:] if "=" not in a]
    variables = [a for a in arguments[1:] if "=" in a and not a.startswith("ARGS=")]
    given = next((a.split("=", 1)[1] for a in arguments if a.startswith("ARGS=")), "")
    dry = ["-n"] if set(targets) & {"test", "test-all", "setup-inception"} else []  # no suite inside the suite
    training = f"{given} {' '.join(TINY_TRAINING)} trainer.max_epochs=2 hydra.run.dir={{out}}/run"
    return ["make", *dry, f"VENV={venv}", "-o", f"{venv}/.installed", "DATA_DIR={data}", *variables, *targets] + (
        [f"ARGS={training.strip()}"] if "run" in targets else []
    )


COMMANDS = readme_commands(README.read_text())
RUNS: dict[tuple[str, ...], str] = {}  # what runs -> the first README command that asks for it
for _command in COMMANDS:
    RUNS.setdefault(tuple(tiny(concrete(_command))), _command)
# The costliest, whose machinery other tests cover at smaller scale: in `make test-all` only.
SLOW = {
    "make run",  # as `make run ARGS=...`
    "python -m genmodels.train model=dcgan",  # one 64x64 batch takes seconds; the 32x32 DCGAN command runs
    "python -m genmodels.train -m latent=2,5,10,20,50",  # five jobs; test_experiments sweeps two
    "python -m genmodels.train -m hydra/launcher=joblib hydra.launcher.n_jobs=2 latent=2,20",  # as test_scale_out
    "python -m genmodels.train hparams_search=vae_optuna",  # as test_scale_out
    # at tiny scale the same run as the first steps' DCGAN but for the figure epochs
    # the published cpu preset's DCGAN: torch.compile takes a minute before the first step (test_speed covers it)
    "python -m genmodels.train experiment=report_dcgan data.image_size=32 trainer.max_epochs=7 "
    "'figures.sample_epochs=[1,5,7]' speed.compile=true speed.channels_last=true",
}


def test_the_readme_shows_commands_of_every_entry_point():
    shown = " ".join(COMMANDS)
    for entry in ("genmodels.train", "genmodels.evaluate", "genmodels.compare", "genmodels.report", "genmodels.data"):
        assert f"python -m {entry}" in shown
    assert "make run" in shown and "make test" in shown


def test_every_slow_command_is_in_the_readme():
    assert SLOW <= set(COMMANDS)


@pytest.mark.parametrize(
    "command, run",
    [pytest.param(c, r, marks=[pytest.mark.slow] if c in SLOW else [], id=c[:60]) for r, c in RUNS.items()],
)
def test_readme_command_runs(command, run, cli_vae_run, cli_sweep, mnist_dir, tmp_path):
    places = {"run": cli_vae_run, "sweep": cli_sweep, "out": tmp_path / "out", "data": mnist_dir}  # finished ones
    arguments = list(run)
    for name, folder in places.items():  # str.format would trip over a command's own braces ({_target_: ...})
        arguments = [argument.replace(f"{{{name}}}", str(folder)) for argument in arguments]
    if arguments[0] == "python":
        arguments = [sys.executable, *arguments[1:]]
    env = {**cli_env(mnist_dir), "GENMODELS_LOG_DIR": str(tmp_path / "outputs")}  # runs without a folder write here
    result = subprocess.run(arguments, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    output = f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    assert result.returncode == 0, f"README command failed: {command}\nran: {shlex.join(arguments)}\n{output}"

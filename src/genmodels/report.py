"""Reproduce the course report: ``python -m genmodels.report [--preset cpu|report|quick] [--only <experiment> ...]
[-- overrides]``.

Each experiment of the preset (``configs/report/<preset>.yaml``; with ``--only``, those named) is trained (or reused,
or resumed) and evaluated; ``<out>/`` gets the figures, ``results.json`` and ``report.md``; ``--docs docs`` also
publishes them (with ``--only``, in place of the published entries of those experiments alone).
"""

from __future__ import annotations

import argparse
import json
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from hydra import compose, initialize_config_dir
from omegaconf import DictConfig, OmegaConf

from genmodels import CONFIG_DIR
from genmodels.errors import GenmodelsError
from genmodels.overrides import path_override, shell_command
from genmodels.published_results import merge_results, publish_docs
from genmodels.report_experiments import EXPERIMENTS
from genmodels.results import (
    FID_FIGURE,
    ReportError,
    render_markdown,
    report_fid_figure,
    results_entry,
    stage_experiment,
)
from genmodels.runs.atomic import write_atomic
from genmodels.runs.folder import check_no_links
from genmodels.runs.summary import METRICS_FILE, evaluation_settings, read_summary
from genmodels.tables import format_duration

PRESETS = ("report", "cpu", "quick")


def default_preset() -> str:
    """``report`` where a GPU is present, ``cpu`` elsewhere."""
    import torch

    return "report" if torch.cuda.is_available() else "cpu"


def load_preset(name: str) -> DictConfig:
    """The preset's config, ``configs/report/<name>.yaml``, checked to name only known experiments."""
    path = CONFIG_DIR / "report" / f"{name}.yaml"
    if not path.is_file():
        raise ReportError(f"unknown preset {name!r}; choose one of {list(PRESETS)} (files in {path.parent})")
    preset = OmegaConf.load(path)
    unknown = set(preset.runs) - set(EXPERIMENTS)
    if unknown:
        raise ReportError(f"{path} names unknown experiments {sorted(unknown)}; known: {list(EXPERIMENTS)}")
    return preset


class StageClock:
    """Runs the stages of a report, keeps their seconds in ``timings_path`` and prints one line per stage with the
    time left: the expected minutes of the remaining stages, scaled by the pace of the stages that ran."""

    def __init__(self, expected_minutes: list[float], timings_path: Path | None = None) -> None:
        self.expected = expected_minutes
        self.timings_path = timings_path
        self.seconds: dict[str, float] = {}
        if timings_path is not None and timings_path.exists():
            self.seconds = json.loads(timings_path.read_text())
        self.started = time.perf_counter()
        self.index = 0
        self.seconds_run = 0.0
        self.expected_run = 0.0

    def run(
        self, label: str, stage: Callable[[], tuple[str, list[str]]], recorded: Callable[[], float] | None = None
    ) -> list[str]:
        """Run ``stage`` (returning what it did and its arguments), record it and print its line. A reused stage
        counts the seconds ``recorded`` reads from its run (the run's own time, also where it was made or evaluated
        again outside this report)."""
        started = time.perf_counter()
        done, args = stage()
        seconds = time.perf_counter() - started
        if done != "reused":
            self.seconds_run += seconds
            self.expected_run += self.expected[self.index] * 60
        counted = recorded() if done == "reused" and recorded is not None else seconds
        if done != "reused" or recorded is not None or label not in self.seconds:
            self.seconds[label] = round(counted, 1)
            if self.timings_path is not None:
                write_atomic(self.timings_path, (json.dumps(self.seconds, indent=2) + "\n").encode())
        pace = self.seconds_run / self.expected_run if self.expected_run else 1.0
        remaining = sum(self.expected[self.index + 1 :]) * 60 * pace
        self.index += 1
        print(
            f"[{self.index}/{len(self.expected)}] {label}: {done} in {format_duration(seconds)} · "
            f"elapsed {format_duration(time.perf_counter() - self.started)} · about {format_duration(remaining)} left",
            flush=True,
        )
        return args


def run_module(module: str, args: list[str], log_path: Path) -> None:
    """Run ``python -m module args`` with its output going to ``log_path``; fail with the log's tail."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("w") as log:
        code = subprocess.call([sys.executable, "-m", module, *args], stdout=log, stderr=subprocess.STDOUT)
    if code != 0:
        tail = "".join(log_path.read_text().splitlines(keepends=True)[-15:])
        raise ReportError(f"python -m {module} {shlex.join(args)} failed (exit {code}); log {log_path}:\n{tail}")


def train_stage(name: str, overrides: list[str], run_dir: Path) -> tuple[str, list[str]]:
    """Make sure ``run_dir`` holds a finished run of experiment ``name``; returns what was done and the arguments."""
    args = [f"experiment={name}", *overrides]  # the command that reproduces the run, in a folder of its own
    if (run_dir / METRICS_FILE).exists():
        return "reused", args
    resume = (run_dir / ".hydra" / "config.yaml").is_file()  # an earlier, unfinished attempt
    run_args = [path_override("resume", run_dir)] if resume else [*args, path_override("hydra.run.dir", run_dir)]
    log_path = run_dir.parent / f"{name}.train.log"
    run_module("genmodels.train", [*run_args, "trainer.enable_progress_bar=false"], log_path)
    return ("resumed" if resume else "trained"), args


def recorded_seconds(run_dir: Path, stage: str) -> float:
    """The seconds a finished run recorded for its ``train`` (fit) or ``evaluate`` stage in ``metrics.json``."""
    summary = read_summary(run_dir)
    return summary["fit_wall_time_s"] if stage == "train" else summary["eval"]["timings_s"]["total"]


def requested_settings(overrides: list[str]) -> dict[str, Any]:
    """The settings ``genmodels.evaluate`` would record under ``overrides``."""
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        return evaluation_settings(compose(config_name="evaluate", overrides=overrides))


def evaluate_stage(name: str, overrides: list[str], run_dir: Path, fresh: bool) -> tuple[str, list[str]]:
    """Make sure ``run_dir`` holds an evaluation (``metrics.json["eval"]``) with the settings ``overrides`` ask for
    (an evaluation with other settings is made again); returns what was done and the arguments."""
    args = [path_override("run_dir", run_dir), *overrides]
    recorded = read_summary(run_dir).get("eval") if (run_dir / METRICS_FILE).exists() else None
    if not fresh and recorded is not None and recorded["settings"] == requested_settings(args):
        return "reused", args
    run_module("genmodels.evaluate", [*args, "progress=false"], run_dir.parent / f"{name}.evaluate.log")
    return "evaluated", args


def chosen_runs(preset_name: str, preset: DictConfig, only: list[str]) -> dict[str, DictConfig]:
    """The preset's runs that ``only`` names (all of them when empty), in the preset's order."""
    unknown = [name for name in only if name not in preset.runs]
    if unknown:
        raise ReportError(
            f"--only {' '.join(unknown)}: not in preset {preset_name} (it runs {list(preset.runs)}). Fix: name "
            "experiments of the preset."
        )
    return {name: run for name, run in preset.runs.items() if not only or name in only}


def run_report(
    preset_name: str,
    out: Path,
    overrides: list[str],
    fresh: bool,
    eval_overrides: list[str] = (),
    only: list[str] = (),
) -> dict[str, Any]:
    """Train (with ``overrides``) and evaluate (with ``eval_overrides``) every experiment of a preset (those named
    in ``only``) into ``out``; with ``only``, ``out``'s earlier results of the preset's other experiments are kept."""
    preset = load_preset(preset_name)
    runs = chosen_runs(preset_name, preset, list(only))
    expected = [float(minutes) for run in runs.values() for minutes in (run.minutes.train, run.minutes.evaluate)]
    if fresh:  # with only, just those experiments' runs start over
        for folder in [out / "runs" / name for name in runs] if only else [out]:
            shutil.rmtree(folder, ignore_errors=True)
    out.mkdir(parents=True, exist_ok=True)
    check_no_links(out)  # its run folders, logs and figures are written (and copied) without following links
    clock = StageClock(expected, out / "stage_seconds.json")
    print(f"Preset {preset_name}: {preset.description}; about {format_duration(sum(expected) * 60)} here.", flush=True)
    entries = []
    for name, run in runs.items():
        run_dir = out / "runs" / name
        train_args = clock.run(
            f"{name} train",
            partial(train_stage, name, [*run.train, *overrides], run_dir),
            partial(recorded_seconds, run_dir, "train"),
        )
        eval_args = clock.run(
            f"{name} evaluate",
            partial(evaluate_stage, name, [*run.evaluate, *eval_overrides], run_dir, fresh),
            partial(recorded_seconds, run_dir, "evaluate"),
        )
        figures = []
        for figure, source in EXPERIMENTS[name].figures.items():
            if (run_dir / source).exists():
                (out / "figures").mkdir(parents=True, exist_ok=True)
                shutil.copy(run_dir / source, out / "figures" / figure)
                figures.append(figure)
        commands = {
            "train": shell_command("genmodels.train", train_args),
            "evaluate": shell_command("genmodels.evaluate", eval_args),
        }
        entries.append(results_entry(name, preset_name, run_dir, commands, figures))
    stages = {label: seconds for label, seconds in clock.seconds.items() if stage_experiment(label) in runs}
    results = {
        "preset": preset_name,
        "description": preset.description,
        "command": shlex.join(
            ["python", "-m", "genmodels.report", "--preset", preset_name]
            + [f"--eval={override}" for override in eval_overrides]
            + (["--", *overrides] if overrides else [])
        ),
        "device": entries[0]["device"] if entries else "",
        "wall_time_s": round(sum(stages.values()), 1),
        "stage_seconds": stages,
        "experiments": entries,
    }
    if only and (out / "results.json").is_file():  # the preset's other experiments, as this folder has them
        results = merge_results(json.loads((out / "results.json").read_text()), results, list(only), list(preset.runs))
    results["figures"] = [FID_FIGURE] if report_fid_figure(results, out / "figures" / FID_FIGURE) else []
    write_atomic(out / "results.json", (json.dumps(results, indent=2) + "\n").encode())
    write_atomic(out / "report.md", f"# Reproduction of the report\n\n{render_markdown(results, 'figures')}".encode())
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m genmodels.report",
        description="Train and evaluate the course report's experiments and collect their figures and numbers.",
        epilog="Presets (2-core CPU): cpu, about 80 min (the default without a GPU); "
        "quick, about 10 min; "
        "report: 64x64 and 40 epochs everywhere, for a GPU (the default there). Example: "
        "python -m genmodels.report --preset quick -- trainer.max_epochs=2; "
        "publishing two experiments again, the others as published: "
        "python -m genmodels.report --preset cpu --only cpu_cgan cvae --docs docs",
    )
    parser.add_argument("--preset", choices=PRESETS, default=None, help="cpu, report or quick (default: by device)")
    parser.add_argument("--out", type=Path, default=None, help="output folder (default outputs/report-<preset>)")
    parser.add_argument("--fresh", action="store_true", help="retrain and re-evaluate instead of reusing runs")
    parser.add_argument(
        "--only",
        nargs="+",
        default=[],
        metavar="EXPERIMENT",
        help="run only these experiments of the preset; with --docs, replace only their published entries and figures",
    )
    parser.add_argument(
        "--docs",
        type=Path,
        help="publish into this folder (docs): figures/, results.json, and the results section of the README beside it",
    )
    parser.add_argument(
        "--eval",
        action="append",
        default=[],
        metavar="OVERRIDE",
        help="an override for every evaluation, e.g. --eval metrics.inception_fid=true (repeatable)",
    )
    parser.add_argument("overrides", nargs="*", help="extra training overrides for every run, after --")
    args = parser.parse_args(argv)
    preset = args.preset or default_preset()
    out = args.out or Path("outputs") / f"report-{preset}"
    try:
        results = run_report(preset, out, args.overrides, args.fresh, args.eval, args.only)
        if args.docs:
            publish_docs(out, args.docs, results, args.only, list(load_preset(preset).runs))
    except GenmodelsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print((out / "report.md").read_text())
    print(f"Wrote {out / 'report.md'}, {out / 'results.json'} and the figures in {out / 'figures'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Reproduce the course report: ``python -m genmodels.report [--preset cpu|report|quick] [-- overrides]``.

A preset (``configs/report/<preset>.yaml``) names, for each report experiment of ``configs/experiment/``, the
training and evaluation overrides it runs with. For each experiment the command trains (or reuses, or resumes)
one run, evaluates it with ``genmodels.evaluate``, and assembles ``<out>/``: every report figure under
``figures/``, ``results.json``, and ``report.md`` with the measured numbers beside what the report said.
An interrupted report picks up where it stopped: finished stages are reused, unfinished runs resumed.
``--docs docs`` also publishes the figures and ``results.json`` there and rewrites the README's results section.
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
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from genmodels.tables import format_duration, format_number, markdown_table

CONFIGS = Path(__file__).resolve().parents[2] / "configs"
PRESETS = ("report", "cpu", "quick")
README_BEGIN = "<!-- results:begin (written by python -m genmodels.report --docs docs) -->"
README_END = "<!-- results:end -->"


@dataclass(frozen=True)
class ReportExperiment:
    """One experiment config and the report figures it reproduces."""

    name: str
    figures: dict[str, str]  # report figure file name -> PNG inside the run folder
    claim: str  # what the report said about this result


EXPERIMENTS = {
    experiment.name: experiment
    for experiment in (
        ReportExperiment(
            "report_vae_latent20",
            {
                "fig1_elbo_curve_latent20.png": "figures/curves.png",
                "fig3_samples_bernoulli_latent20.png": "figures/samples_by_epoch_bernoulli.png",
                "fig5_samples_mean_latent20.png": "figures/samples_by_epoch_mean.png",
            },
            "The ELBO improves over 40 epochs (fig. 1, no value given); latent-20 samples look less "
            "meaningful than latent-2 ones at the same epochs (figs. 3, 5).",
        ),
        ReportExperiment(
            "report_vae_latent2",
            {
                "fig2_samples_bernoulli_latent2.png": "figures/samples_by_epoch_bernoulli.png",
                "fig4_samples_mean_latent2.png": "figures/samples_by_epoch_mean.png",
                "fig6_manifold_latent2.png": "figures/manifold.png",
                "extra_latent_scatter_latent2.png": "figures/latent_scatter.png",
            },
            "Samples improve from epoch 1 to 40; Bernoulli draws are sharper but noisier (figs. 2, 4); "
            "the 2-D manifold morphs smoothly between digits, blurry in low-density corners (fig. 6).",
        ),
        ReportExperiment(
            "report_dcgan",
            {
                "fig8_dcgan_samples.png": "figures/samples_by_epoch_mean.png",
                "fig9_dcgan_interpolation.png": "figures/interpolation.png",
            },
            "Meaningful digits after 5 epochs and 'quite impressive' ones after 40 (fig. 8); "
            "interpolation turns one digit into another, e.g. a 6 into a 4 (fig. 9).",
        ),
    )
}

# Metrics shown in the results table: key in eval.json, column title, decimals.
COLUMNS = (
    ("test_neg_elbo", "test −ELBO", 2),
    ("test_iwae_nll", "IWAE NLL", 2),
    ("fid_classifier", "FID (clf)", 2),
    ("inception_score", "IS (clf)", 2),
    ("class_entropy", "class entropy", 3),
    ("precision", "precision", 3),
    ("recall", "recall", 3),
)


class ReportError(RuntimeError):
    """A preset, experiment or stage failed; the message names it and where its log is."""


def default_preset() -> str:
    """``report`` where a GPU is present, ``cpu`` elsewhere."""
    import torch

    return "report" if torch.cuda.is_available() else "cpu"


def load_preset(name: str) -> DictConfig:
    """The preset's config, ``configs/report/<name>.yaml``, checked to name only known experiments."""
    path = CONFIGS / "report" / f"{name}.yaml"
    if not path.is_file():
        raise ReportError(f"unknown preset {name!r}; choose one of {list(PRESETS)} (files in {path.parent})")
    preset = OmegaConf.load(path)
    unknown = set(preset.runs) - set(EXPERIMENTS)
    if unknown:
        raise ReportError(f"{path} names unknown experiments {sorted(unknown)}; known: {list(EXPERIMENTS)}")
    return preset


class StageClock:
    """Runs the stages of a report, records their times and prints one line per stage.

    Each line gives the stage's time, the elapsed time and an estimate of what remains: the preset's expected
    minutes of the remaining stages, scaled by how fast the stages that ran (not the reused ones) went against
    their own expected minutes. The seconds of every stage that ran are kept in ``timings_path``; a stage
    reused later keeps the time it took when it ran.
    """

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

    def run(self, label: str, stage: Callable[[], tuple[str, list[str]]]) -> list[str]:
        """Run ``stage`` (returning what it did and its arguments), record it and print its line."""
        started = time.perf_counter()
        done, args = stage()
        seconds = time.perf_counter() - started
        if done != "reused":
            self.seconds_run += seconds
            self.expected_run += self.expected[self.index] * 60
        if done != "reused" or label not in self.seconds:
            self.seconds[label] = round(seconds, 1)
            if self.timings_path is not None:
                self.timings_path.write_text(json.dumps(self.seconds, indent=2) + "\n")
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
    if (run_dir / "metrics.json").exists():
        return "reused", args
    resume = (run_dir / ".hydra" / "config.yaml").is_file()  # an earlier, unfinished attempt
    run_args = [f"resume={run_dir}"] if resume else [*args, f"hydra.run.dir={run_dir}"]
    log_path = run_dir.parent / f"{name}.train.log"
    run_module("genmodels.train", [*run_args, "trainer.enable_progress_bar=false"], log_path)
    return ("resumed" if resume else "trained"), args


def evaluate_stage(name: str, overrides: list[str], run_dir: Path, fresh: bool) -> tuple[str, list[str]]:
    """Make sure ``run_dir`` holds an ``eval.json``; returns what was done and the arguments."""
    args = [f"run_dir={run_dir}", *overrides]
    if not fresh and (run_dir / "eval.json").exists():
        return "reused", args
    run_module("genmodels.evaluate", [*args, "progress=false"], run_dir.parent / f"{name}.evaluate.log")
    return "evaluated", args


def results_entry(name: str, preset: str, run_dir: Path, commands: dict[str, str], figures: list[str]) -> dict:
    """What ``docs/results.json`` records of one experiment, from the run's metrics.json and eval.json."""
    summary = json.loads((run_dir / "metrics.json").read_text())
    evaluation = json.loads((run_dir / "eval.json").read_text())
    metrics = {
        key: {"value": value, "floor": evaluation["floors"].get(key)}
        for key, value in evaluation["metrics"].items()
        if isinstance(value, (int, float))
    }
    return {
        "experiment": name,
        "preset": preset,
        "model": summary["model"],
        "latent": summary["latent"],
        "image_size": summary["image_size"],
        "epochs": summary["epochs"],
        "train_batches_per_epoch": summary.get("train_batches_per_epoch"),
        "binarization": summary["binarization_note"],
        "device": summary["device"],
        "train_wall_time_s": summary["fit_wall_time_s"],
        "seconds_per_epoch": summary["seconds_per_epoch"],
        "eval_wall_time_s": evaluation["timings_s"].get("total"),
        "checkpoint": Path(evaluation["checkpoint"]).name,
        "checkpoint_epoch": evaluation["checkpoint_epoch"],
        "eval_settings": {k: evaluation["settings"][k] for k in ("iwae_k", "num_test_images", "num_samples")},
        "metrics": metrics,
        "commands": commands,
        "claim": EXPERIMENTS[name].claim,
        "figures": figures,
    }


def render_markdown(results: dict[str, Any], figures_path: str) -> str:
    """The results table and, per experiment, the report's claim beside its figures (Markdown)."""

    def cell(entry: dict, key: str, digits: int) -> str:
        metric = entry["metrics"].get(key)
        if metric is None:
            return ""
        floor = metric["floor"]
        return format_number(metric["value"], digits) + ("" if floor is None else f" ({format_number(floor, digits)})")

    lines = [
        f"Preset `{results['preset']}` ({results['description']}): "
        f"{format_duration(results['wall_time_s'])} in all on {results['device']}.",
        "",
        *markdown_table(
            ["experiment", "epochs", "checkpoint", "train time", *(title for _, title, _ in COLUMNS)],
            (
                [
                    f"{entry['experiment']} ({entry['image_size']}×{entry['image_size']})",
                    entry["epochs"],
                    f"epoch {entry['checkpoint_epoch']} ({entry['checkpoint']})",
                    format_duration(entry["train_wall_time_s"]),
                    *(cell(entry, key, digits) for key, _, digits in COLUMNS),
                ]
                for entry in results["experiments"]
            ),
        ),
        "",
        "−ELBO and IWAE NLL: nats per test image (lower is better; IWAE with k = "
        + ", ".join(sorted({str(e["eval_settings"]["iwae_k"]) for e in results["experiments"]}))
        + "), on grey-level targets, not comparable with binarized-MNIST numbers. Sample scores use the MNIST "
        "classifier on generated samples against the test images, followed by their real-vs-real floor in "
        "parentheses (training images against the same test images).",
        "",
    ]
    for entry in results["experiments"]:
        lines += [f"**{entry['experiment']}.** Report: {entry['claim']}", ""]
        lines += [f"![{name}]({figures_path}/{name})" for name in entry["figures"]]
        lines += ["", f"`{entry['commands']['train']}`", ""]
    return "\n".join(lines).rstrip() + "\n"


def update_readme(readme: Path, markdown: str) -> None:
    """Replace the README's results section (between the results markers) by ``markdown``."""
    text = readme.read_text()
    start, end = text.find(README_BEGIN), text.find(README_END)
    if start < 0 or end < start:
        raise ReportError(f"{readme} has no results markers ({README_BEGIN} ... {README_END})")
    readme.write_text(text[: start + len(README_BEGIN)] + "\n" + markdown + text[end:])


def run_report(
    preset_name: str, out: Path, overrides: list[str], fresh: bool, eval_overrides: list[str] = ()
) -> dict[str, Any]:
    """Train and evaluate every experiment of a preset into ``out``; returns the results (also written there).

    ``overrides`` are added to every training run, ``eval_overrides`` to every evaluation (after the preset's).
    """
    preset = load_preset(preset_name)
    expected = [float(minutes) for run in preset.runs.values() for minutes in (run.minutes.train, run.minutes.evaluate)]
    if fresh:
        shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True, exist_ok=True)
    clock = StageClock(expected, out / "stage_seconds.json")
    print(f"Preset {preset_name}: {preset.description}; about {format_duration(sum(expected) * 60)} here.", flush=True)
    entries = []
    for name, run in preset.runs.items():
        run_dir = out / "runs" / name
        train_args = clock.run(f"{name} train", partial(train_stage, name, [*run.train, *overrides], run_dir))
        eval_args = clock.run(
            f"{name} evaluate", partial(evaluate_stage, name, [*run.evaluate, *eval_overrides], run_dir, fresh)
        )
        figures = []
        for figure, source in EXPERIMENTS[name].figures.items():
            if (run_dir / source).exists():
                (out / "figures").mkdir(parents=True, exist_ok=True)
                shutil.copy(run_dir / source, out / "figures" / figure)
                figures.append(figure)
        commands = {
            "train": shlex.join(["python", "-m", "genmodels.train", *train_args]),
            "evaluate": shlex.join(["python", "-m", "genmodels.evaluate", *eval_args]),
        }
        entries.append(results_entry(name, preset_name, run_dir, commands, figures))
    results = {
        "preset": preset_name,
        "description": preset.description,
        "command": shlex.join(
            ["python", "-m", "genmodels.report", "--preset", preset_name]
            + [f"--eval={override}" for override in eval_overrides]
            + (["--", *overrides] if overrides else [])
        ),
        "device": entries[0]["device"] if entries else "",
        "wall_time_s": round(sum(clock.seconds.values()), 1),
        "stage_seconds": clock.seconds,
        "experiments": entries,
    }
    (out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    (out / "report.md").write_text(f"# Reproduction of the report\n\n{render_markdown(results, 'figures')}")
    return results


def publish_docs(out: Path, docs: Path, results: dict[str, Any]) -> None:
    """Put this report's figures into ``<docs>/figures`` (replacing the report figures there), write
    ``<docs>/results.json``, and rewrite the results section of the README beside the docs folder."""
    figures = docs / "figures"
    figures.mkdir(parents=True, exist_ok=True)
    for experiment in EXPERIMENTS.values():
        for name in experiment.figures:
            (figures / name).unlink(missing_ok=True)
    for entry in results["experiments"]:
        for name in entry["figures"]:
            shutil.copy(out / "figures" / name, figures / name)
    (docs / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    update_readme(docs.parent / "README.md", render_markdown(results, f"{docs.name}/figures"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m genmodels.report",
        description="Train and evaluate the course report's experiments and collect their figures and numbers.",
        epilog="Presets (2-core CPU): cpu, about an hour (the default without a GPU); "
        "quick, about 14 min; "
        "report: 64x64 and 40 epochs everywhere, for a GPU (the default there). Example: "
        "python -m genmodels.report --preset quick -- trainer.max_epochs=2",
    )
    parser.add_argument("--preset", choices=PRESETS, default=None, help="cpu, report or quick (default: by device)")
    parser.add_argument("--out", type=Path, default=None, help="output folder (default outputs/report-<preset>)")
    parser.add_argument("--fresh", action="store_true", help="retrain and re-evaluate instead of reusing runs")
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
        results = run_report(preset, out, args.overrides, args.fresh, args.eval)
        if args.docs:
            publish_docs(out, args.docs, results)
    except ReportError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print((out / "report.md").read_text())
    print(f"Wrote {out / 'report.md'}, {out / 'results.json'} and the figures in {out / 'figures'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

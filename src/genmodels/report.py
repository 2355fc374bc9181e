"""Reproduce the course report: ``python -m genmodels.report [--quick] [-- overrides]``.

Runs (or reuses) one training run per report experiment in ``configs/experiment/report_*.yaml``,
evaluates each with ``genmodels.evaluate``, and assembles ``<out>/``: every report figure under
``figures/``, ``results.json``, and ``report.md`` with the measured numbers beside what the report said.
An interrupted report picks up where it stopped: finished runs are reused, unfinished ones resumed.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class ReportExperiment:
    """One experiment config and the report figures it reproduces."""

    name: str
    figures: dict[str, str]  # report figure file name -> PNG inside the run folder
    claim: str  # what the report said about this result
    quick: list[str] = field(default_factory=list)  # training overrides for --quick


QUICK_EVAL = ["metrics.iwae_k=1000", "metrics.num_test_images=1000", "metrics.num_samples=5000"]

EXPERIMENTS = [
    ReportExperiment(
        "report_vae_latent20",
        {
            "fig1_elbo_curve_latent20.png": "figures/curves.png",
            "fig3_samples_bernoulli_latent20.png": "figures/samples_by_epoch_bernoulli.png",
            "fig5_samples_mean_latent20.png": "figures/samples_by_epoch_mean.png",
        },
        "The ELBO improves over 40 epochs (fig. 1, no value given); latent-20 samples look less "
        "meaningful than latent-2 ones at the same epochs (figs. 3, 5).",
        quick=["trainer.max_epochs=5", "figures.sample_epochs=[1,3,5]"],
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
        quick=["trainer.max_epochs=5", "figures.sample_epochs=[1,3,5]"],
    ),
    ReportExperiment(
        "report_dcgan",
        {
            "fig8_dcgan_samples.png": "figures/samples_by_epoch_mean.png",
            "fig9_dcgan_interpolation.png": "figures/interpolation.png",
        },
        "Meaningful digits after 5 epochs and 'quite impressive' ones after 40 (fig. 8); "
        "interpolation turns one digit into another, e.g. a 6 into a 4 (fig. 9).",
        quick=[
            "data.image_size=32",
            "trainer.max_epochs=5",
            "figures.sample_epochs=[1,3,5]",
            "trainer.limit_train_batches=60",
            "trainer.limit_val_batches=1",
        ],
    ),
]


def run_module(module: str, args: list[str], log_path: Path) -> None:
    """Run ``python -m module args`` with its output going to ``log_path``; fail with the log's tail."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("w") as log:
        code = subprocess.call([sys.executable, "-m", module, *args], stdout=log, stderr=subprocess.STDOUT)
    if code != 0:
        tail = "".join(log_path.read_text().splitlines(keepends=True)[-15:])
        raise RuntimeError(f"python -m {module} {' '.join(args)} failed (exit {code}); log {log_path}:\n{tail}")


def train_and_evaluate(exp: ReportExperiment, run_dir: Path, quick: bool, extra: list[str], fresh: bool) -> str:
    """Make sure ``run_dir`` holds a finished, evaluated run of ``exp``; returns what was done."""
    if fresh and run_dir.exists():
        shutil.rmtree(run_dir)
    overrides = [f"experiment={exp.name}", *(exp.quick if quick else []), *extra]
    done = []
    if not (run_dir / "metrics.json").exists():
        resume = [f"resume={run_dir}"] if (run_dir / "checkpoints").is_dir() else []
        hydra_dir = run_dir if not resume else run_dir / "resumed"
        run_module(
            "genmodels.train",
            [*overrides, *resume, f"hydra.run.dir={hydra_dir}", "trainer.enable_progress_bar=false"],
            run_dir.parent / f"{exp.name}.train.log",
        )
        done.append("resumed" if resume else "trained")
    if fresh or not (run_dir / "eval.json").exists():
        run_module(
            "genmodels.evaluate",
            [f"run_dir={run_dir}", "progress=false", *(QUICK_EVAL if quick else [])],
            run_dir.parent / f"{exp.name}.evaluate.log",
        )
        done.append("evaluated")
    return ", ".join(done) or "reused"


def results_row(exp: ReportExperiment, run_dir: Path) -> dict:
    """The numbers of one finished run, from its metrics.json and eval.json."""
    summary = json.loads((run_dir / "metrics.json").read_text())
    evaluation = json.loads((run_dir / "eval.json").read_text())
    return {
        "experiment": exp.name,
        "model": summary["model"],
        "latent": summary["latent"],
        "image_size": summary["image_size"],
        "epochs": summary["epochs"],
        "train_batches_per_epoch": summary.get("train_batches_per_epoch"),
        "binarization": summary["binarization_note"],
        "fit_wall_time_s": summary["fit_wall_time_s"],
        "seconds_per_epoch": summary["seconds_per_epoch"],
        "device": summary["device"],
        "test_neg_elbo": summary["metrics"].get("test/neg_elbo"),
        "eval": evaluation["metrics"],
        "floors": evaluation["floors"],
        "eval_settings": {k: evaluation["settings"][k] for k in ("iwae_k", "num_test_images", "num_samples")},
        "eval_seconds": evaluation["timings_s"].get("total"),
        "claim": exp.claim,
    }


def write_markdown(rows: list[dict], figures: dict[str, list[str]], out: Path, quick: bool) -> Path:
    """``report.md``: the results table, the report's claims, and every figure."""

    def number(value, digits=2):
        return "" if value is None else f"{value:.{digits}f}"

    def with_floor(row, key, digits=2):
        value, floor = row["eval"].get(key), row["floors"].get(key)
        return "" if value is None else f"{number(value, digits)} ({number(floor, digits)})"

    lines = [
        f"# Reproduction of the report ({'quick mode' if quick else 'full mode'})",
        "",
        "Numbers are nats per image (lower is better) for -ELBO and IWAE NLL; sample-quality scores are "
        "followed by their real-vs-real floor in parentheses (training images against test images).",
        "",
        "| experiment | epochs | device | s/epoch | test -ELBO | IWAE NLL (k, images) | FID (MNIST clf) | IS "
        "| precision | recall | binarization |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        iwae = row["eval"].get("test_iwae_nll")
        settings = row["eval_settings"]
        iwae_text = f"{number(iwae)} ({settings['iwae_k']}, {settings['num_test_images'] or 10000})" if iwae else ""
        lines.append(
            f"| {row['experiment']} | {row['epochs']} | {row['device']} | {number(row['seconds_per_epoch'], 1)} "
            f"| {number(row['test_neg_elbo'])} | {iwae_text} "
            f"| {with_floor(row, 'fid_classifier')} | {with_floor(row, 'inception_score')} "
            f"| {with_floor(row, 'precision', 3)} | {with_floor(row, 'recall', 3)} | {row['binarization']} |"
        )
    lines += ["", "## What the report said, and the figures", ""]
    for row in rows:
        lines += [f"### {row['experiment']}", "", f"Report: {row['claim']}", ""]
        lines += [f"![{name}](figures/{name})" for name in figures[row["experiment"]]]
        lines.append("")
    path = out / "report.md"
    path.write_text("\n".join(lines))
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m genmodels.report", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick",
        action="store_true",
        help="5 epochs, DCGAN at 32x32 on a data subset, smaller evaluations (CPU-friendly)",
    )
    parser.add_argument("--out", type=Path, default=None, help="output folder (default outputs/report[-quick])")
    parser.add_argument(
        "--experiments",
        default=",".join(e.name for e in EXPERIMENTS),
        help="comma-separated subset of: " + ", ".join(e.name for e in EXPERIMENTS),
    )
    parser.add_argument("--fresh", action="store_true", help="retrain and re-evaluate instead of reusing runs")
    parser.add_argument("--docs", type=Path, help="also copy the figures into this folder (e.g. docs/figures)")
    parser.add_argument("overrides", nargs="*", help="extra training overrides for every run, after --")
    args = parser.parse_args(argv)
    chosen = [e for e in EXPERIMENTS if e.name in args.experiments.split(",")]
    unknown = set(args.experiments.split(",")) - {e.name for e in EXPERIMENTS}
    if unknown:
        print(
            f"error: unknown experiments {sorted(unknown)}; choose from {[e.name for e in EXPERIMENTS]}",
            file=sys.stderr,
        )
        return 1
    out = args.out or Path("outputs") / ("report-quick" if args.quick else "report")
    rows, figures = [], {}
    for index, exp in enumerate(chosen, 1):
        run_dir = out / "runs" / exp.name
        started = time.perf_counter()
        print(f"[{index}/{len(chosen)}] {exp.name} ...", flush=True)
        try:
            done = train_and_evaluate(exp, run_dir, args.quick, args.overrides, args.fresh)
        except RuntimeError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        print(f"[{index}/{len(chosen)}] {exp.name}: {done} in {time.perf_counter() - started:.0f} s", flush=True)
        rows.append(results_row(exp, run_dir))
        figures[exp.name] = []
        for name, source in exp.figures.items():
            if (run_dir / source).exists():
                for folder in filter(None, (out / "figures", args.docs)):
                    folder.mkdir(parents=True, exist_ok=True)
                    shutil.copy(run_dir / source, folder / name)
                figures[exp.name].append(name)
    (out / "results.json").write_text(json.dumps(rows, indent=2) + "\n")
    report = write_markdown(rows, figures, out, args.quick)
    print(report.read_text())
    print(f"Wrote {report}, {out / 'results.json'} and {sum(map(len, figures.values()))} figures in {out / 'figures'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

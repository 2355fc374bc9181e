"""Compare the jobs of a sweep: ``python -m genmodels.compare <multirun dir>`` writes a table (Markdown and CSV) of
their metrics, a likelihood plot against the latent size and a sample-quality plot; failed jobs, and jobs with a
damaged file (named, with the fix), are listed."""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from genmodels.data.provision import dataset_title  # noqa: E402
from genmodels.errors import ConfigError, RunFolderError  # noqa: E402
from genmodels.images import save_figure  # noqa: E402
from genmodels.runs.atomic import write_atomic  # noqa: E402
from genmodels.runs.definition import read_overrides  # noqa: E402
from genmodels.runs.folder import OVERRIDES_FILE  # noqa: E402
from genmodels.runs.summary import METRICS_FILE, RunSummary, read_summary  # noqa: E402
from genmodels.tables import format_number, markdown_table  # noqa: E402

# Columns shown when a job has them: (label, key in the flattened metrics). "{classifier}" names the dataset
# whose classifier scored the samples (each job is scored with the classifier of its own dataset).
COLUMNS = [
    ("test -ELBO", "test/neg_elbo"),
    ("val -ELBO", "val/neg_elbo"),
    ("IWAE NLL", "eval.test_iwae_nll"),
    ("FID ({classifier} clf)", "eval.fid_classifier"),
    ("IS ({classifier} clf)", "eval.inception_score"),
    ("precision", "eval.precision"),
    ("recall", "eval.recall"),
    ("Inception FID", "eval.inception_fid"),
]
# Sample-quality scores plotted per job: (label, key, what is better).
SAMPLE_QUALITY = [
    ("FID (MNIST classifier)", "eval.fid_classifier", "lower"),
    ("Inception Score (classifier)", "eval.inception_score", "higher"),
    ("precision", "eval.precision", "higher"),
    ("recall", "eval.recall", "higher"),
]


@dataclass
class Job:
    """One sweep job: its folder, overrides, status and flattened numbers."""

    folder: Path
    overrides: list[str]
    status: str
    reason: str = ""
    summary: RunSummary = field(default_factory=dict)
    numbers: dict[str, float] = field(default_factory=dict)


def _results(folder: Path) -> RunSummary | None:
    """The job's ``metrics.json`` if it is complete and newer than any ``failed.json`` (a failure of an earlier
    attempt never hides the results of a later one that succeeded), else None; one whose parts compare reads have the
    wrong shape is a ``RunFolderError``."""
    metrics, failed = folder / METRICS_FILE, folder / "failed.json"
    if not metrics.is_file() or (failed.is_file() and failed.stat().st_mtime_ns > metrics.stat().st_mtime_ns):
        return None
    try:
        summary = read_summary(folder)
    except (OSError, ValueError):  # cut short, e.g. by a copy interrupted
        return None
    if not isinstance(summary.get("metrics"), dict):
        return None
    evaluation = summary.get("eval", {})
    shapes = {
        "eval": (evaluation, dict),
        "eval.metrics": (evaluation.get("metrics", {}) if isinstance(evaluation, dict) else {}, dict),
        "latent": (summary.get("latent"), int | None),
        "dataset": (summary.get("dataset", ""), str),
    }
    for key, (value, shape) in shapes.items():
        if not isinstance(value, shape) or isinstance(value, bool):
            raise RunFolderError(
                f"{METRICS_FILE} is damaged ({key} is {json.dumps(value)[:80]}). "
                "Fix: restore it from a copy (python -m genmodels.evaluate rewrites its eval)."
            )
    return summary


def _failure(folder: Path) -> str:
    """The error a failed job's ``failed.json`` records; a file that is no JSON object is a ``RunFolderError``."""
    fix = "Fix: restore it from a copy, or run the job again (resume=<its folder>)."
    if not (folder / "failed.json").is_file():  # e.g. a named pipe, which would block the read
        raise RunFolderError(f"failed.json is not a regular file. {fix}")
    try:
        record = json.loads((folder / "failed.json").read_bytes())
    except (OSError, ValueError) as exc:  # unreadable, not UTF-8, not JSON
        raise RunFolderError(f"failed.json is damaged ({type(exc).__name__}: {exc}). {fix}") from None
    if not isinstance(record, dict):
        raise RunFolderError(f"failed.json holds a JSON {type(record).__name__}, not an object with the error. {fix}")
    return str(record.get("error", "unknown error"))


def _overrides(folder: Path) -> list[str]:
    """The job's overrides as written (``read_overrides``: interpolations stay text, never resolved); none without
    the file; a damaged file is a ``ConfigError``."""
    path = folder / OVERRIDES_FILE
    return read_overrides(path) if path.exists() else []


def collect(sweep_dir: Path) -> list[Job]:
    """Read every job folder of a Hydra multirun directory (overrides common to all jobs are dropped); a job with a
    file compare cannot read is listed as damaged, naming the file and the fix."""
    folders = sorted((p for p in sweep_dir.iterdir() if (p / ".hydra").is_dir()), key=_job_order)
    jobs, readable = [], []
    for folder in folders:
        try:
            overrides = _overrides(folder)
        except ConfigError as exc:
            jobs.append(Job(folder, [], "damaged", str(exc)))
            continue
        readable.append(set(overrides))
        try:
            jobs.append(_job(folder, overrides))
        except RunFolderError as exc:
            jobs.append(Job(folder, overrides, "damaged", str(exc)))
    shared = set.intersection(*readable) if len(readable) > 1 else set()
    for job in jobs:  # keep the overrides that tell the jobs apart
        job.overrides = [o for o in job.overrides if o not in shared]
    return jobs


def _job(folder: Path, overrides: list[str]) -> Job:
    """The job in ``folder``: finished (its numbers), failed, or incomplete; a damaged file is a ``RunFolderError``."""
    summary = _results(folder)
    if summary is None and (folder / "failed.json").exists():
        return Job(folder, overrides, "failed", _failure(folder))
    if summary is None:
        return Job(folder, overrides, "incomplete", "no complete metrics.json (still running, killed, or deleted)")
    numbers = _flatten(summary["metrics"], "") | _flatten(summary.get("eval", {}).get("metrics", {}), "eval")
    return Job(folder, overrides, "ok", summary=summary, numbers=numbers)


def write_table(jobs: list[Job], out_dir: Path) -> tuple[Path, Path]:
    """Write ``comparison.md`` and ``comparison.csv`` (finished jobs sorted by latent size, then the rest)."""
    finished = sorted(
        (j for j in jobs if j.status == "ok"), key=lambda j: (j.summary.get("latent") or 0, j.folder.name)
    )
    datasets = sorted({dataset_title(j.summary.get("dataset", "mnist")) for j in finished})
    classifier = datasets[0] if len(datasets) == 1 else "own dataset's"
    columns = [
        (label.format(classifier=classifier), key) for label, key in COLUMNS if any(key in j.numbers for j in finished)
    ]
    before = {"latent": "latent", "epochs": "epochs", "batches/epoch": "train_batches_per_epoch"}
    after = {"fit s": "fit_wall_time_s", "s/epoch": "seconds_per_epoch", "device": "device"}
    header = ["job", "overrides", *before, *(label for label, _ in columns), *after]
    rows = [
        [j.folder.name, " ".join(j.overrides), *(j.summary.get(k) for k in before.values())]
        + [format_number(j.numbers[k]) if k in j.numbers else "" for _, k in columns]
        + [j.summary.get(k) for k in after.values()]
        for j in finished
    ]
    csv_path, md_path = out_dir / "comparison.csv", out_dir / "comparison.md"
    table = io.StringIO(newline="")
    writer = csv.writer(table)
    writer.writerow([*header, "status", "reason"])
    writer.writerows([*row, "ok", ""] for row in rows)
    writer.writerows(
        [j.folder.name, " ".join(j.overrides), *[""] * (len(header) - 2), j.status, j.reason]
        for j in jobs
        if j.status != "ok"
    )
    write_atomic(csv_path, table.getvalue().encode())
    lines = markdown_table(header, rows)
    problems = [j for j in jobs if j.status != "ok"]
    if problems:
        lines += ["", "Jobs without results:", ""]
        lines += [f"- `{j.folder.name}` ({' '.join(j.overrides)}): {j.status}: {j.reason}" for j in problems]
    write_atomic(md_path, ("\n".join(lines) + "\n").encode())
    return md_path, csv_path


def likelihood_figure(jobs: list[Job]) -> plt.Figure | None:
    """Test -ELBO and IWAE NLL against the latent size, if the jobs have them."""
    finished = sorted(
        (j for j in jobs if j.status == "ok" and j.summary.get("latent")), key=lambda j: j.summary["latent"]
    )
    series = {
        "test -ELBO": [(j.summary["latent"], j.numbers[k]) for j in finished if (k := "test/neg_elbo") in j.numbers],
        "IWAE NLL": [(j.summary["latent"], j.numbers[k]) for j in finished if (k := "eval.test_iwae_nll") in j.numbers],
    }
    series = {label: points for label, points in series.items() if points}
    if not series:
        return None
    figure, axis = plt.subplots(figsize=(5.5, 3.8))
    for label, points in series.items():
        axis.plot(*zip(*points), marker="o", label=label)
    axis.set(
        xscale="log",
        xlabel="latent size",
        ylabel="nats per image (lower is better)",
        title="Test likelihood against latent size",
    )
    # Latent sizes as plain numbers: ticks at the sizes run, and no labelled minor ticks (such as 3x10^0).
    axis.set_xticks(sorted({p[0] for points in series.values() for p in points}))
    axis.set_xticks([], minor=True)
    axis.get_xaxis().set_major_formatter(matplotlib.ticker.ScalarFormatter())
    axis.grid(alpha=0.3)
    axis.legend()
    return figure


def write_sample_quality_plot(jobs: list[Job], out_dir: Path) -> Path | None:
    """One panel per sample-quality score, one bar per evaluated job (labelled by its overrides)."""
    evaluated = [j for j in jobs if j.status == "ok" and any(key in j.numbers for _, key, _ in SAMPLE_QUALITY)]
    if not evaluated:
        return None
    labels = [" ".join(j.overrides) or j.folder.name for j in evaluated]
    figure, axes = plt.subplots(1, len(SAMPLE_QUALITY), figsize=(3.2 * len(SAMPLE_QUALITY), 3.4))
    for axis, (title, key, better) in zip(axes, SAMPLE_QUALITY):
        values = [j.numbers.get(key, float("nan")) for j in evaluated]
        bars = axis.bar(range(len(values)), values, color=[f"C{i}" for i in range(len(values))])
        axis.bar_label(bars, fmt="%.3g")
        axis.set_xticks(range(len(values)), labels, rotation=20, ha="right")
        axis.set_title(f"{title}\n({better} is better)")
        axis.grid(axis="y", alpha=0.3)
        axis.margins(y=0.15)  # room for the bar labels
    figure.tight_layout()
    return save_figure(figure, out_dir / "comparison_sample_quality.png")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m genmodels.compare",
        description="Compare the jobs of a sweep: one table (Markdown and CSV) and one plot of their metrics.",
    )
    parser.add_argument("sweep_dir", type=Path, help="a Hydra multirun folder (outputs/train/multiruns/<time>)")
    parser.add_argument("--out", type=Path, help="where to write the table and plot (default: the sweep folder)")
    args = parser.parse_args(argv)
    if not args.sweep_dir.is_dir():
        print(f"error: {args.sweep_dir} is not a folder; pass the folder a multirun wrote", file=sys.stderr)
        return 1
    jobs = collect(args.sweep_dir)
    if not jobs:
        print(f"error: {args.sweep_dir} holds no job folders (sub-folders with .hydra/)", file=sys.stderr)
        return 1
    out_dir = args.out or args.sweep_dir
    md_path, csv_path = write_table(jobs, out_dir)
    figure = likelihood_figure(jobs)
    plots = [save_figure(figure, out_dir / "comparison.png")] if figure else []
    plots += [path for path in [write_sample_quality_plot(jobs, out_dir)] if path]
    print(md_path.read_text())
    print(f"Wrote {', '.join(str(path) for path in (md_path, csv_path, *plots))}")
    return 0


def _flatten(node: Any, prefix: str) -> dict[str, float]:
    if isinstance(node, dict):
        items = ((f"{prefix}.{key}" if prefix else key, value) for key, value in node.items())
        return {k: v for key, value in items for k, v in _flatten(value, key).items()}
    if isinstance(node, (int, float)) and not isinstance(node, bool):
        return {prefix: float(node)}
    return {}


def _job_order(folder: Path) -> tuple[int, str]:
    return (int(folder.name), "") if folder.name.isdigit() else (sys.maxsize, folder.name)


if __name__ == "__main__":
    sys.exit(main())

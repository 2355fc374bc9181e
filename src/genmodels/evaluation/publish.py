"""Publishing an evaluation: the run's ``metrics.json`` (the whole evaluation under ``"eval"``, one atomic write, so
a failure at any point leaves the file as it was), TensorBoard, a table."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

from genmodels.data.provision import dataset_title
from genmodels.evaluation import EvaluationError
from genmodels.runs.summary import METRICS_FILE, Evaluation, RunSummary, read_summary, write_summary
from genmodels.tables import format_number, markdown_table


def summary_to_extend(run_dir: Path) -> RunSummary:
    """The run's ``metrics.json`` (empty when the run has none yet), checked before anything is computed: a file
    that is no JSON object stops the evaluation with one ``EvaluationError``."""
    try:
        return read_summary(run_dir)
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:  # unreadable, not UTF-8, not JSON (json.JSONDecodeError), not an object
        raise EvaluationError(
            f"{run_dir / METRICS_FILE} is damaged ({type(exc).__name__}: {exc}); nothing was evaluated or written. "
            "Fix: restore it from a copy, then evaluate again."
        ) from None


def publish(run_dir: Path, result: Evaluation, summary: RunSummary) -> None:
    """The run's ``summary`` with ``result`` under ``"eval"`` in one atomic write of ``metrics.json`` (the previous
    evaluation replaced), then TensorBoard scalars and the printed table."""
    write_summary(run_dir, {**summary, "eval": result})
    log_to_tensorboard(run_dir / "tensorboard", result)
    print_table(result)


def log_to_tensorboard(folder: Path, result: Evaluation) -> None:
    """Scalars ``eval/<name>`` (and ``eval_floor/<name>``) at the checkpoint's global step."""
    from torch.utils.tensorboard import SummaryWriter

    step = result.get("checkpoint_global_step") or 0
    writer = SummaryWriter(log_dir=str(folder))
    try:
        for key, value in result["metrics"].items():
            if isinstance(value, (int, float)) and math.isfinite(value):
                writer.add_scalar(f"eval/{key}", value, global_step=step)
        for key, value in result["floors"].items():
            if math.isfinite(value):
                writer.add_scalar(f"eval_floor/{key}", value, global_step=step)
        writer.add_text("eval/summary", table_markdown(result), global_step=step)
    finally:
        writer.close()


# (metric key, label, note); "{classifier}" in a label is the dataset whose classifier the run was scored with.
ROWS: tuple[tuple[str, str, Callable[[dict], str]], ...] = (
    ("test_neg_elbo", "test -ELBO (nats)", lambda r: f"{r['settings']['elbo_samples']} posterior samples"),
    ("test_iwae_nll", "test IWAE -log p(x) (nats)", lambda r: f"k={r['settings']['iwae_k']}"),
    ("iwae_gap", "-ELBO minus IWAE (nats)", lambda r: ""),
    ("test_neg_elbo_bpd", "test -ELBO (bits/dim)", lambda r: "nats / (C x H x W x ln 2)"),
    ("test_iwae_nll_bpd", "test IWAE -log p(x) (bits/dim)", lambda r: "nats / (C x H x W x ln 2)"),
    ("fid_classifier", "FID ({classifier} classifier)", lambda r: "lower is better"),
    ("inception_score", "Inception Score ({classifier} classifier)", lambda r: "higher is better, max 10"),
    (
        "class_entropy",
        "class entropy (nats)",
        lambda r: max_entropy(len(r["details"]["sample_quality"]["class_histogram"])),
    ),
    ("conditional_accuracy", "conditional accuracy", lambda r: "samples classified as the class asked for"),
    ("precision", "precision (k-NN)", lambda r: f"k={r['settings']['pr_k']}"),
    ("recall", "recall (k-NN)", lambda r: f"k={r['settings']['pr_k']}"),
    ("inception_fid", "FID (InceptionV3)", lambda r: f"{r['settings']['inception_samples']} images"),
    ("classifier_test_accuracy", "{classifier} classifier test accuracy", lambda r: "the classifier behind FID and IS"),
)


def max_entropy(classes: int) -> str:
    """The note of the class entropy: its largest value, that of ``classes`` equally frequent classes."""
    return f"max log {classes} = {math.log(classes):.3f}"


def table_rows(result: Evaluation) -> list[tuple[str, str, str, str]]:
    """(metric, value, real-vs-real floor, note) for every number computed."""
    rows = []
    for key, label, note in ROWS:
        if key not in result["metrics"]:
            continue
        label = label.format(classifier=dataset_title(result["dataset"]))
        text = format_number(result["metrics"][key])
        if f"{key}_sem" in result["metrics"]:
            text += f" ± {result['metrics'][f'{key}_sem']:.2f}"
        floor = result["floors"].get(key)
        rows.append((label, text, "" if floor is None else format_number(floor), note(result)))
    return rows


def table_markdown(result: Evaluation) -> str:
    """The table as Markdown, for TensorBoard's text tab."""
    lines = markdown_table(["metric", "value", "real-vs-real floor", "note"], table_rows(result))
    lines += ["", *provenance_lines(result), f"Timings (s): {result['timings_s']}"]
    return "\n".join(lines)


def provenance_lines(result: Evaluation) -> list[str]:
    """The targets and the likelihood the likelihood numbers belong to, and the features of the sample scores, as
    lines, for the numbers there are."""
    lines, details = [], result["details"]
    if "test_neg_elbo" in result["metrics"]:
        lines.append(f"Targets: {result['binarization_note']}")
    if "likelihood" in details:
        lines.append(f"Likelihood: {details['likelihood']['pixel_likelihood']}")
    if "sample_quality" in details:
        lines.append(f"Sample-score features: {details['sample_quality']['features']}")
    return lines


def print_table(result: Evaluation) -> None:
    """Print the results as a table (rich), with the binarization note and the timings."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{result['model']} — {result['run_dir']}")
    for column in ("metric", "value", "real-vs-real floor", "note"):
        table.add_column(column, justify="right" if column in ("value", "real-vs-real floor") else "left")
    for row in table_rows(result):
        table.add_row(*row)
    console = Console(width=max(120, Console().width))
    console.print(table)
    if "checkpoint" in result:
        console.print(f"Checkpoint: {result['checkpoint']} (epoch {result['checkpoint_epoch']})")
    for line in provenance_lines(result):
        console.print(line)
    for key, reason in result.get("skipped", {}).items():
        console.print(f"Not computed: metrics.{key} ({reason})")
    console.print("Timings (s): " + ", ".join(f"{key} {value}" for key, value in result["timings_s"].items()))
    console.print(f'Written: {Path(result["run_dir"]) / METRICS_FILE} (under "eval")')

"""What ``results.json`` records of each experiment of a report, the figure of the GANs' validation FID, and the
results' Markdown."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, NamedTuple

import matplotlib.pyplot as plt
from matplotlib.ticker import MaxNLocator
from omegaconf import DictConfig, OmegaConf

from genmodels.callbacks.curves import FLOOR_SUFFIX
from genmodels.callbacks.samples import figure_epochs
from genmodels.errors import GenmodelsError
from genmodels.images import save_figure
from genmodels.report_experiments import EXPERIMENTS
from genmodels.runs.checkpoints import SAMPLE_QUALITY_MONITOR
from genmodels.runs.summary import read_summary
from genmodels.tables import format_duration, format_number, markdown_table


class ReportError(GenmodelsError):
    """A preset, experiment or stage failed; the message names it and where its log is."""


class Column(NamedTuple):
    """A metric of the results table: its key in ``metrics.json["eval"]["metrics"]``, title, decimals, and the factor
    its values and floor are shown multiplied by (100: a share as a percentage)."""

    key: str
    title: str
    digits: int
    scale: float = 1.0


# The table shows a column where at least one experiment has its metric (conditional accuracy: conditional models).
COLUMNS = (
    Column("test_neg_elbo", "test −ELBO", 2),
    Column("test_iwae_nll", "IWAE NLL", 2),
    Column("fid_classifier", "FID (clf)", 2),
    Column("inception_fid", "FID (Inception)", 2),
    Column("conditional_accuracy", "conditional accuracy (%)", 1, 100.0),
    Column("inception_score", "IS (clf)", 2),
    Column("class_entropy", "class entropy", 3),
    Column("precision", "precision", 3),
    Column("recall", "recall", 3),
)


def validation_fid(run_dir: Path) -> dict[str, Any] | None:
    """The FID a run scored its samples with after each epoch (``per_epoch``), their number and the real-vs-real
    floor, from its ``figures/curves.json`` and config; None for a run that did not score its samples."""
    history = run_dir / "figures" / "curves.json"
    rows = json.loads(history.read_text()) if history.exists() else {}
    floor_key = f"{SAMPLE_QUALITY_MONITOR}{FLOOR_SUFFIX}"
    per_epoch = {int(e): row[SAMPLE_QUALITY_MONITOR] for e, row in rows.items() if SAMPLE_QUALITY_MONITOR in row}
    if not per_epoch:
        return None
    config = OmegaConf.load(run_dir / ".hydra" / "config.yaml")
    return {
        "samples": OmegaConf.select(config, "callbacks.sample_quality.num_samples"),
        "floor": next((row[floor_key] for row in rows.values() if floor_key in row), None),
        "per_epoch": dict(sorted(per_epoch.items())),
    }


def generator_kind(model: DictConfig) -> str | None:
    """Which generator draws a GAN's samples: ``moving-average`` (``ema_half_life`` set) or ``live``; None for a
    model without a generator."""
    if "generator" not in model:
        return None
    return "moving-average" if model.get("ema_half_life") else "live"


def results_entry(name: str, preset: str, run_dir: Path, commands: dict[str, str], figures: list[str]) -> dict:
    """What ``docs/results.json`` records of one experiment, from the run's metrics.json (evaluation: "eval") and
    its config."""
    summary = read_summary(run_dir)
    evaluation = summary["eval"]
    config, epochs = OmegaConf.load(run_dir / ".hydra" / "config.yaml"), summary["epochs"]
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
        "epochs": epochs,
        "generator": generator_kind(config.model),
        "num_classes": config.model.get("num_classes"),
        "sample_epochs": sorted(
            {*figure_epochs(config.figures.sample_epochs, summary["epochs"])[0], summary["epochs"]}
        ),
        "train_batches_per_epoch": summary.get("train_batches_per_epoch"),
        "binarization": summary["binarization_note"],
        "device": summary["device"],
        "train_wall_time_s": summary["fit_wall_time_s"],
        "seconds_per_epoch": summary["seconds_per_epoch"],
        "eval_wall_time_s": evaluation["timings_s"].get("total"),
        "checkpoint": Path(evaluation["checkpoint"]).name,
        "checkpoint_epoch": evaluation["checkpoint_epoch"],
        "eval_settings": {key: evaluation["settings"][key] for key in eval_setting_keys(metrics)},
        "metrics": metrics,
        "validation_fid": validation_fid(run_dir),
        "commands": commands,
        "claim": EXPERIMENTS[name].claim,
        "figures": figures,
    }


def eval_setting_keys(metrics: dict[str, Any]) -> tuple[str, ...]:
    """The evaluation settings a results entry records: the Inception sample count where it has that FID."""
    keys = ("iwae_k", "num_test_images", "num_samples")
    return (*keys, "inception_samples") if "inception_fid" in metrics else keys


def stage_experiment(label: str) -> str:
    """The experiment of a ``stage_seconds`` label (``<experiment> train``, ``<experiment> evaluate``)."""
    return label.rsplit(" ", 1)[0]


FID_FIGURE = "gan_fid_per_epoch.png"


def fid_per_epoch_figure(curves: dict[str, dict[str, Any] | None], title: str, path: Path) -> bool:
    """Draw each run's validation FID after each epoch (label -> ``validation_fid`` of a results entry, None for a
    run that scored none) and its real-vs-real floor, dashed, into one figure at ``path``; False (and nothing
    drawn) when no run scored its samples."""
    curves = {label: curve for label, curve in curves.items() if curve}
    if not curves:
        return False
    figure, axis = plt.subplots(figsize=(6.5, 4.4))
    floors: dict[float, tuple[str, list[str]]] = {}  # one dashed line per distinct floor: its first run's colour
    for label, curve in curves.items():
        epochs = [int(epoch) for epoch in curve["per_epoch"]]
        line = axis.plot(epochs, list(curve["per_epoch"].values()), marker="o", markersize=3, label=label)[0]
        if curve.get("floor") is not None:
            floors.setdefault(round(curve["floor"], 4), (line.get_color(), []))[1].append(label.split(" (")[0])
    for floor, (color, labels) in floors.items():
        axis.axhline(floor, color=color, linestyle="--", label=f"real-vs-real floor ({', '.join(labels)})")
    samples = sorted({curve["samples"] for curve in curves.values() if curve.get("samples")})
    axis.set(xlabel="epoch", ylabel="validation FID (MNIST classifier)", yscale="log")
    axis.set_title(
        f"{title}\nFID of {' / '.join(f'{n:,}' for n in samples) or 'the'} samples against the validation images "
        "after each epoch\n(the tables: test FID of 10,000 samples at the chosen checkpoint)",
        fontsize=9,
    )
    axis.xaxis.set_major_locator(MaxNLocator(integer=True))
    axis.grid(alpha=0.3, which="both")
    axis.legend(fontsize=8)
    save_figure(figure, path)
    return True


def report_fid_figure(results: dict[str, Any], path: Path) -> bool:
    """The validation FID per epoch of a report's GANs, titled with its preset, the runs' sizes and device."""
    entries = [entry for entry in results["experiments"] if entry.get("validation_fid")]
    runs = ", ".join(f"{e['experiment']} ({e['image_size']}×{e['image_size']}, {e['epochs']} epochs)" for e in entries)
    title = f"Preset {results['preset']}: {runs}; {results['device']}"
    return fid_per_epoch_figure({e["experiment"]: e["validation_fid"] for e in entries}, title, path)


def render_markdown(results: dict[str, Any], figures_path: str, with_figures: bool = True) -> str:
    """The results table and (``with_figures``), per experiment, the report's claim beside its figures (Markdown)."""
    entries = results["experiments"]
    columns = [column for column in COLUMNS if any(column.key in entry["metrics"] for entry in entries)]

    def cell(entry: dict, column: Column) -> str:
        metric = entry["metrics"].get(column.key)
        if metric is None:
            return ""
        value, floor = (None if v is None else v * column.scale for v in (metric["value"], metric["floor"]))
        return format_number(value, column.digits) + (
            "" if floor is None else f" ({format_number(floor, column.digits)})"
        )

    lines = [
        f"Preset `{results['preset']}` ({results['description']}): "
        f"{format_duration(results['wall_time_s'])} in all on {results['device']}.",
        "",
        *markdown_table(
            ["experiment", "epochs", "checkpoint", "train time", *(column.title for column in columns)],
            (
                [
                    f"{entry['experiment']} ({entry['image_size']}×{entry['image_size']})",
                    entry["epochs"],
                    f"epoch {entry['checkpoint_epoch']} ({entry['checkpoint']})",
                    format_duration(entry["train_wall_time_s"]),
                    *(cell(entry, column) for column in columns),
                ]
                for entry in entries
            ),
        ),
        "",
        "−ELBO and IWAE NLL: nats per test image (lower is better; IWAE with k = "
        + ", ".join(f"{k}" for k in iwae_ks(results))
        + "), on grey-level targets, not comparable with binarized-MNIST numbers. Sample scores use the MNIST "
        "classifier on generated samples against the test images, followed by their real-vs-real floor in "
        "parentheses (training images against the same test images)."
        + (CONDITIONAL_NOTE if any(entry.get("num_classes") for entry in entries) else "")
        + inception_note(entries),
        "",
    ]
    if not with_figures:
        return "\n".join(lines).rstrip() + "\n"
    for entry in entries:
        lines += [f"**{entry['experiment']}.** Report: {entry['claim']}", "", f"Shown here: {shown(entry)}.", ""]
        lines += [f"![{name}]({figures_path}/{name})" for name in entry["figures"]]
        lines += ["", f"`{entry['commands']['train']}`", ""]
    if results.get("figures"):
        lines += [
            "The GANs' validation FID after each epoch (2,000 samples against the validation images, the score by "
            "which each run kept its best epoch; dashed: the FID of as many training images, where recorded):",
            "",
        ]
    lines += [f"![{name}]({figures_path}/{name})" for name in results.get("figures", [])]
    return "\n".join(lines).rstrip() + "\n"


CONDITIONAL_NOTE = (
    " Conditional accuracy: the share of a conditional model's samples (as many of each class) that the classifier "
    "assigns to the class asked for; its floor is the classifier's accuracy on the test images. A conditional "
    "model's IS can exceed the real images' IS (each sample drawn as one class, confidently), so for it the "
    "conditional accuracy and FID are the measures that matter. A conditional VAE's −ELBO and IWAE NLL bound "
    "−log p(x|y), the label given."
)


def inception_note(entries: list[dict[str, Any]]) -> str:
    """What the FID (Inception) column measures, for results that have one (else "")."""
    counts = sorted({e["eval_settings"]["inception_samples"] for e in entries if "inception_fid" in e["metrics"]})
    if not counts:
        return ""
    return (
        " FID (Inception): the standard FID's InceptionV3 (pool3, 2,048 features; the TensorFlow graph's weights, "
        "resized by torch's bilinear filter: close to, not identical with, the reference code) on "
        f"{' / '.join(f'{n:,}' for n in counts)} samples against as many test images, its floor as many training "
        "images; Lucic et al. (2018) report 6.8 for their best non-saturating GAN on MNIST (the best of 100 "
        "hyper-parameter settings, 10,000 samples against the test set)."
    )


def iwae_ks(results: dict[str, Any]) -> list[int]:
    """The importance-sample counts behind the results' IWAE column (experiments that have one)."""
    entries = results["experiments"]
    return sorted({e["eval_settings"]["iwae_k"] for e in entries if "test_iwae_nll" in e["metrics"]})


def shown(entry: dict[str, Any]) -> str:
    """What an experiment's figures show: model, image size, epochs, the epochs of its sample grids, the generator."""
    *first, last = [str(epoch) for epoch in entry["sample_epochs"]]
    epochs = f"epochs {', '.join(first)} and {last}" if first else f"epoch {last}"
    conditional = "conditional " if entry.get("num_classes") else ""
    model = (
        f"the {conditional}{entry['model']} (latent {entry['latent']}) at {entry['image_size']}×{entry['image_size']}"
    )
    rows = ", a row per class" if entry.get("num_classes") else ""
    sampler = f", from the {entry['generator']} generator" if entry.get("generator") else ""
    return f"{model}, samples after {epochs} of {entry['epochs']}{rows}{sampler}"

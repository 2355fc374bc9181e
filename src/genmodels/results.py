"""The report's experiments, what ``results.json`` records of each, their Markdown, and publishing them into
``docs/`` and the README's results block (between ``README_BEGIN`` and ``README_END``)."""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
from matplotlib.ticker import MaxNLocator
from omegaconf import DictConfig, OmegaConf

from genmodels.callbacks.curves import FLOOR_SUFFIX
from genmodels.callbacks.samples import figure_epochs
from genmodels.errors import GenmodelsError
from genmodels.images import save_figure
from genmodels.runs.checkpoints import SAMPLE_QUALITY_MONITOR
from genmodels.runs.summary import read_summary
from genmodels.tables import format_duration, format_number, markdown_table

README_BEGIN = "<!-- results:begin (written by python -m genmodels.report --docs docs) -->"
README_END = "<!-- results:end -->"


class ReportError(GenmodelsError):
    """A preset, experiment or stage failed; the message names it and where its log is."""


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
            {  # not named after the report's figs. 8 and 9: the presets shorter than `report` train fewer epochs
                "dcgan_samples_by_epoch.png": "figures/samples_by_epoch_mean.png",
                "dcgan_interpolation.png": "figures/interpolation.png",
            },
            "Meaningful digits after 5 epochs and 'quite impressive' ones after 40 (fig. 8); "
            "interpolation turns one digit into another, e.g. a 6 into a 4 (fig. 9).",
        ),
        ReportExperiment(
            "cpu_gan",
            {
                "cpu_gan_samples.png": "figures/samples_by_epoch_mean.png",
                "cpu_gan_interpolation.png": "figures/interpolation.png",
            },
            "(not in the report) the best GAN genmodels trains on 2 CPU cores in under half an hour: the lean "
            "networks of Lucic et al. 2018, the report's soft noisy labels, Adam at 8e-4 for both networks and a "
            "moving average of the generator (docs/experiments.md, The GAN on a CPU).",
        ),
    )
}

# Metrics shown in the results table: key in metrics.json["eval"]["metrics"], column title, decimals.
COLUMNS = (
    ("test_neg_elbo", "test −ELBO", 2),
    ("test_iwae_nll", "IWAE NLL", 2),
    ("fid_classifier", "FID (clf)", 2),
    ("inception_score", "IS (clf)", 2),
    ("class_entropy", "class entropy", 3),
    ("precision", "precision", 3),
    ("recall", "recall", 3),
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
        "eval_settings": {k: evaluation["settings"][k] for k in ("iwae_k", "num_test_images", "num_samples")},
        "metrics": metrics,
        "validation_fid": validation_fid(run_dir),
        "commands": commands,
        "claim": EXPERIMENTS[name].claim,
        "figures": figures,
    }


FID_FIGURE = "gan_fid_per_epoch.png"


def fid_per_epoch_figure(curves: dict[str, dict[str, Any] | None], title: str, path: Path) -> bool:
    """Draw each run's validation FID after each epoch (label -> ``validation_fid`` of a results entry, None for a
    run that scored none) and its real-vs-real floor, dashed, into one figure at ``path``; False (and nothing
    drawn) when no run scored its samples."""
    curves = {label: curve for label, curve in curves.items() if curve}
    if not curves:
        return False
    figure, axis = plt.subplots(figsize=(6.5, 4.4))
    for label, curve in curves.items():
        epochs = [int(epoch) for epoch in curve["per_epoch"]]
        line = axis.plot(epochs, list(curve["per_epoch"].values()), marker="o", markersize=3, label=label)[0]
        if curve.get("floor") is not None:
            axis.axhline(curve["floor"], color=line.get_color(), linestyle="--", label=f"{label}: real-vs-real floor")
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
        + ", ".join(f"{k}" for k in iwae_ks(results))
        + "), on grey-level targets, not comparable with binarized-MNIST numbers. Sample scores use the MNIST "
        "classifier on generated samples against the test images, followed by their real-vs-real floor in "
        "parentheses (training images against the same test images).",
        "",
    ]
    for entry in results["experiments"]:
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


def iwae_ks(results: dict[str, Any]) -> list[int]:
    """The importance-sample counts behind the results' IWAE column (experiments that have one)."""
    entries = results["experiments"]
    return sorted({e["eval_settings"]["iwae_k"] for e in entries if "test_iwae_nll" in e["metrics"]})


def shown(entry: dict[str, Any]) -> str:
    """What an experiment's figures show: model, image size, epochs, the epochs of its sample grids, the generator."""
    *first, last = [str(epoch) for epoch in entry["sample_epochs"]]
    epochs = f"epochs {', '.join(first)} and {last}" if first else f"epoch {last}"
    model = f"the {entry['model']} (latent {entry['latent']}) at {entry['image_size']}×{entry['image_size']}"
    sampler = f", from the {entry['generator']} generator" if entry.get("generator") else ""
    return f"{model}, samples after {epochs} of {entry['epochs']}{sampler}"


def update_readme(readme: Path, markdown: str) -> None:
    """Replace the README's results section (between the results markers) by ``markdown``."""
    text = readme.read_text()
    start, end = text.find(README_BEGIN), text.find(README_END)
    if start < 0 or end < start:
        raise ReportError(f"{readme} has no results markers ({README_BEGIN} ... {README_END})")
    readme.write_text(text[: start + len(README_BEGIN)] + "\n" + markdown + text[end:])


def publish_docs(out: Path, docs: Path, results: dict[str, Any]) -> None:
    """Put this report's figures into ``<docs>/figures`` (replacing the report figures there), write
    ``<docs>/results.json``, and rewrite the results section of the README beside the docs folder."""
    figures = docs / "figures"
    figures.mkdir(parents=True, exist_ok=True)
    for experiment in EXPERIMENTS.values():
        for name in experiment.figures:
            (figures / name).unlink(missing_ok=True)
    (figures / FID_FIGURE).unlink(missing_ok=True)
    for name in [*results.get("figures", []), *(n for entry in results["experiments"] for n in entry["figures"])]:
        shutil.copy(out / "figures" / name, figures / name)
    (docs / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    update_readme(docs.parent / "README.md", render_markdown(results, f"{docs.name}/figures"))

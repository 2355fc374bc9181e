"""Evaluation entry point: ``python -m genmodels.evaluate run_dir=<a training run's output folder>``.

``evaluate(cfg)`` rebuilds the run's model and data module from its ``.hydra/config.yaml``, loads
the checkpoint's weights and computes, for the models offering what each needs (``models.base``):

- likelihood (``HasLikelihood``, the VAE): the test negative ELBO and the IWAE estimate of
  -log p(x) with ``metrics.iwae_k`` samples, on the targets the run trained on (binarization stated);
- sample quality (``GeneratesImages``): FID in the MNIST classifier's feature space, Inception
  Score, class coverage and precision/recall, each beside its real-vs-real floor;
- optionally the standard Inception FID (``metrics.inception_fid=true``), with its own floor.

It writes ``eval.json`` into the run folder, merges the numbers into the run's ``metrics.json``
under ``"eval"``, logs them to the run's TensorBoard folder and prints a table.
"""

from __future__ import annotations

import logging
import math
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import hydra
import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from genmodels import checkpoints
from genmodels.data.datamodule import unit_images
from genmodels.data.idx import read_idx
from genmodels.data.provision import TEST_IMAGES, TRAIN_IMAGES, DataError, dataset_title
from genmodels.metrics.classifier import ClassifierSettings, classifier_outputs, load_or_train_classifier
from genmodels.metrics.frechet import frechet_distance
from genmodels.metrics.likelihood import dataset_iwae_nll, dataset_negative_elbo, mean_and_standard_error
from genmodels.metrics.sample_quality import class_coverage, inception_score, precision_recall
from genmodels.models.base import CapabilityError, GeneratesImages, HasLikelihood, missing_members, require
from genmodels.overrides import exit_on_unknown_keys
from genmodels.run_info import targets_note, write_json

log = logging.getLogger(__name__)

EVAL_FILE = "eval.json"
# Model classes that moved into the models package; configs of older runs still name the old place.
MOVED_MODELS = {
    "genmodels.vae.VAE": "genmodels.models.vae.VAE",
    "genmodels.dcgan.DCGAN": "genmodels.models.dcgan.DCGAN",
}


class EvaluationError(RuntimeError):
    """A run folder, checkpoint or config is missing or unusable; the message names the path and the fix."""


def evaluate(cfg: DictConfig) -> dict[str, Any]:
    """Evaluate one training run; returns the contents written to ``eval.json``."""
    started = time.perf_counter()
    timings: dict[str, float] = {}
    run_dir, checkpoint = resolve_run(cfg.get("run_dir"), cfg.get("ckpt_path"), cfg.get("checkpoint", "auto"))
    device = pick_device(cfg.device)
    log.info("Evaluating %s (%s) on %s", run_dir, checkpoint.name, device)

    with timed(timings, "load"):
        run_cfg = load_run_config(run_dir)
        if cfg.get("data_dir"):
            run_cfg.data.data_dir = str(cfg.data_dir)
        datamodule = instantiate(run_cfg.data)
        datamodule.setup()
        model = instantiate(run_cfg.model)
        state = load_checkpoint(checkpoint)
        try:
            checkpoints.check_same_model(state.get("hyper_parameters", {}), dict(model.hparams), str(checkpoint))
        except checkpoints.CheckpointError as exc:
            raise EvaluationError(f"{exc}\n(The model options come from {run_dir}/.hydra/config.yaml.)") from exc
        model.load_state_dict(state["state_dict"])
        model = model.to(device).eval()

    m = cfg.metrics
    skipped: dict[str, str] = {}
    run_likelihood = wanted(model, "likelihood", m.likelihood, HasLikelihood, skipped)
    run_sample_quality = wanted(model, "sample_quality", m.sample_quality, GeneratesImages, skipped)
    result: dict[str, Any] = {
        "run_dir": str(run_dir),
        "checkpoint": str(checkpoint),
        "checkpoint_epoch": None if state.get("epoch") is None else state["epoch"] + 1,  # 1-based, as in the logs
        "checkpoint_global_step": state.get("global_step"),
        "model": type(model).__name__,
        "dataset": datamodule.dataset,
        "image_size": datamodule.image_size,
        "latent_dim": getattr(model, "latent_dim", None),
        "binarize": datamodule.binarize,
        "binarization_note": targets_note(model, datamodule),
        "device": str(device),
        "settings": {"seed": cfg.seed, **OmegaConf.to_container(m, resolve=True)},
        "metrics": {},
        "skipped": skipped,
        "floors": {},
        "details": {},
        "timings_s": timings,
    }
    metrics, floors, details = result["metrics"], result["floors"], result["details"]

    if run_likelihood:
        details["likelihood"] = evaluate_likelihood(model, datamodule, m, cfg, device, metrics, timings)
    if run_sample_quality:
        details["sample_quality"] = evaluate_sample_quality(model, datamodule, m, cfg, device, metrics, floors, timings)

    timings["total"] = time.perf_counter() - started
    for key, value in timings.items():
        timings[key] = round(value, 2)
    publish(run_dir, result)
    return result


def wanted(model: torch.nn.Module, key: str, setting: bool | str, capability: type, skipped: dict[str, str]) -> bool:
    """Whether to compute the ``metrics.<key>`` group: ``true`` requires the capability, ``auto`` follows it.

    A group left out under ``auto`` is recorded in ``skipped`` with the reason (and printed with the table).
    """
    if setting not in (True, False, "auto"):
        raise CapabilityError(f"metrics.{key} must be auto, true or false, got {setting!r}")
    if setting is True:
        require(model, capability, f"metrics.{key}=true", f"set metrics.{key}=false (or auto)")
    if setting is False:
        return False
    if isinstance(model, capability):
        return True
    missing = ", ".join(missing_members(model, capability))
    skipped[key] = f"{type(model).__name__} does not offer {capability.__name__} (no {missing})"
    return False


# ----------------------------------------------------------------------------------------------
# Likelihood


def evaluate_likelihood(model, datamodule, m: DictConfig, cfg: DictConfig, device, metrics, timings) -> dict:
    """Test -ELBO and IWAE -log p(x) in nats per image; fills ``metrics`` and returns the details."""
    test_images = datamodule.splits["test"].images
    count = len(test_images) if m.num_test_images is None else min(int(m.num_test_images), len(test_images))
    torch.manual_seed(cfg.seed)  # a dynamic binarization is drawn here, once, for both bounds
    x = datamodule.transform(test_images[:count].to(device))

    with timed(timings, "neg_elbo"):
        generator = torch.Generator(device=device).manual_seed(cfg.seed)
        values = dataset_negative_elbo(x, model, m.elbo_samples, generator=generator, progress=cfg.progress)
    metrics["test_neg_elbo"], metrics["test_neg_elbo_sem"] = mean_and_standard_error(values)
    neg_elbo_values = values

    with timed(timings, "iwae"):
        generator = torch.Generator(device=device).manual_seed(cfg.seed + 1)
        values = dataset_iwae_nll(
            x,
            model,
            k=int(m.iwae_k),
            batch_size=int(m.iwae_batch_size),
            chunk_size=m.iwae_chunk_size,
            generator=generator,
            progress=cfg.progress,
        )
    metrics["test_iwae_nll"], metrics["test_iwae_nll_sem"] = mean_and_standard_error(values)
    metrics["iwae_gap"] = metrics["test_neg_elbo"] - metrics["test_iwae_nll"]
    return {
        "num_test_images": count,
        "iwae_k": int(m.iwae_k),
        "elbo_samples": int(m.elbo_samples),
        "elbo_kl": "KL(q(z|x) || p(z)), analytic where torch.distributions has it, else estimated from the "
        "draws; reconstruction averaged over elbo_samples posterior draws",
        "iwae_images_per_second": round(count / max(timings["iwae"], 1e-9), 2),
        "fraction_iwae_below_elbo": (values <= neg_elbo_values).to(torch.float64).mean().item(),
        "targets": datamodule.binarization_note
        + (f"; drawn once with seed {cfg.seed} for evaluation" if datamodule.binarize == "dynamic" else ""),
    }


# ----------------------------------------------------------------------------------------------
# Sample quality


def evaluate_sample_quality(model, datamodule, m: DictConfig, cfg: DictConfig, device, metrics, floors, timings):
    """Classifier FID, IS, class coverage and precision/recall of samples, each with its real-vs-real floor."""
    with timed(timings, "classifier"):
        settings = ClassifierSettings(**OmegaConf.to_container(m.classifier, resolve=True))
        classifier, classifier_info = load_or_train_classifier(
            datamodule.data_dir, datamodule.dataset, settings, device, progress=cfg.progress
        )
    metrics["classifier_test_accuracy"] = classifier_info["test_accuracy"]

    with timed(timings, "sampling"):
        samples = generate_samples(model, int(m.num_samples), int(m.batch_size), cfg.seed, device)
    test_images, train_images = reference_images(datamodule, len(samples), cfg.seed)
    with timed(timings, "classifier_features"):
        outputs = {
            name: classifier_outputs(classifier, images, int(m.batch_size))
            for name, images in (("samples", samples), ("test", test_images), ("train", train_images))
        }
    with timed(timings, "sample_metrics"):
        (fake_f, fake_p), (test_f, _), (train_f, train_p) = outputs["samples"], outputs["test"], outputs["train"]
        metrics["fid_classifier"] = frechet_distance(fake_f, test_f)
        floors["fid_classifier"] = frechet_distance(train_f, test_f)
        splits = int(m.inception_score_splits)
        metrics["inception_score"], metrics["inception_score_std"] = inception_score(fake_p, splits)
        floors["inception_score"], _ = inception_score(train_p, splits)
        coverage, coverage_real = class_coverage(fake_p), class_coverage(train_p)
        metrics["class_entropy"] = coverage["entropy"]
        floors["class_entropy"] = coverage_real["entropy"]
        metrics["precision"], metrics["recall"] = precision_recall(test_f, fake_f, k=int(m.pr_k))
        floors["precision"], floors["recall"] = precision_recall(test_f, train_f, k=int(m.pr_k))
    details = {
        "num_samples": len(samples),
        "num_test_reference": len(test_images),
        "floor": f"{len(train_images)} training images (seeded subset) against the same test images",
        "reference_images": "grey levels in [0, 1] (not binarized), resized like the training data",
        "classifier": {k: v for k, v in classifier_info.items() if k != "settings"},
        "class_histogram": coverage["histogram"],
        "class_histogram_floor": coverage_real["histogram"],
        "class_normalized_entropy": coverage["normalized_entropy"],
        "class_effective_classes": coverage["effective_classes"],
    }
    if m.inception_fid:
        with timed(timings, "inception_fid"):
            fid, floor, count = inception_fid(samples, test_images, train_images, m, device, cfg.progress)
        metrics["inception_fid"], floors["inception_fid"] = fid, floor
        details["inception_fid_images"] = count
    return details


@torch.no_grad()
def generate_samples(model, count: int, batch_size: int, seed: int, device: torch.device) -> torch.Tensor:
    """``count`` samples (N, 1, S, S) in [0, 1] on the CPU, from seeded standard-normal codes."""
    generator = torch.Generator().manual_seed(seed)
    batches = []
    for start in range(0, count, batch_size):
        z = torch.randn(min(batch_size, count - start), model.latent_dim, generator=generator)
        batches.append(model.generate(z.to(device)).float().clamp(0, 1).cpu())
    return torch.cat(batches)


def reference_images(datamodule, count: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Real test images and a seeded training subset, float (N, 1, S, S) in [0, 1] at the model's size.

    Grey levels straight from the IDX files (no binarization), resized to the run's image size the
    way its training data was, so samples and real images take the same route to the classifier.
    """
    folder = datamodule.raw_folder()
    test = read_idx(folder / TEST_IMAGES)
    train = read_idx(folder / TRAIN_IMAGES)
    count = min(count, len(test))
    order = torch.randperm(len(train), generator=torch.Generator().manual_seed(seed))[:count]
    return unit_images(test[:count], datamodule.image_size), unit_images(train[order], datamodule.image_size)


def inception_fid(samples, test_images, train_images, m: DictConfig, device, progress: bool):
    """Inception FID of samples against test images, and of training images against them (the floor)."""
    from torchmetrics.image.fid import FrechetInceptionDistance
    from tqdm.auto import tqdm

    from genmodels.metrics.inception import InceptionFeatures

    count = min(int(m.inception_samples), len(samples), len(test_images), len(train_images))
    features = InceptionFeatures(m.inception_weights, m.inception_sha1, batch_size=int(m.inception_batch_size))
    fid = FrechetInceptionDistance(feature=features, reset_real_features=False, normalize=True).to(device)
    step = int(m.inception_batch_size)
    bar = tqdm(total=3 * count, desc="Inception features", unit="img", disable=not progress, leave=False)

    def feed(images: torch.Tensor, real: bool) -> None:
        for start in range(0, count, step):
            fid.update(images[start : start + step].to(device), real=real)
            bar.update(min(step, count - start))

    feed(test_images, real=True)
    feed(samples, real=False)
    value = fid.compute().item()
    fid.reset()  # keeps the real (test) statistics
    feed(train_images, real=False)
    floor = fid.compute().item()
    bar.close()
    return value, floor, count


# ----------------------------------------------------------------------------------------------
# Loading


def resolve_run(run_dir: str | None, ckpt_path: str | None, choice: str = "auto") -> tuple[Path, Path]:
    """The run folder and the checkpoint file (``ckpt_path``, else the run's ``choice``), both checked to exist."""
    if not run_dir and not ckpt_path:
        raise EvaluationError(
            "nothing to evaluate.\nFix: pass run_dir=<a training run's output folder> "
            "(e.g. outputs/train/runs/<date>) or ckpt_path=<its checkpoints/last.ckpt>."
        )
    if ckpt_path:
        try:
            checkpoint = checkpoints.checkpoint_file(ckpt_path)  # a .ckpt file, or a run folder's last.ckpt
        except checkpoints.CheckpointError as exc:
            raise EvaluationError(str(exc)) from None
        run = Path(run_dir).expanduser() if run_dir else checkpoint.resolve().parent.parent
    else:
        run = Path(run_dir).expanduser()
        checkpoint = run_checkpoint(run, choice)
    if not run.is_dir():
        raise EvaluationError(
            f"run folder {run} does not exist.\nFix: pass run_dir=<the output folder a training run printed "
            "('Run folder: ...'), e.g. outputs/train/runs/<date>>."
        )
    if not checkpoint.is_file():
        raise EvaluationError(
            f"checkpoint {checkpoint} does not exist.\n"
            f"Fix: finish (or resume) the training run in {run}, or pass ckpt_path=<another .ckpt of it>."
        )
    config = run / ".hydra" / "config.yaml"
    if not config.is_file():
        raise EvaluationError(
            f"run config {config} does not exist, so the model cannot be rebuilt.\n"
            "Fix: pass run_dir=<a folder written by `python -m genmodels.train`> (it holds .hydra/config.yaml), "
            "or, with ckpt_path, add run_dir=<the run folder of that checkpoint>."
        )
    return run, checkpoint


CHECKPOINT_CHOICES = ("auto", "best", "last")
SAMPLE_QUALITY_MONITOR = "val/fid_clf"


def run_checkpoint(run: Path, choice: str) -> Path:
    """The checkpoint of a run folder to evaluate.

    ``last``: ``last.ckpt``; ``best``: the epoch the run's checkpoint callback kept (``best-epoch*.ckpt``);
    ``auto``: ``best`` for a run that chose its best epoch by sample quality (a GAN, ``val/fid_clf``), else
    ``last`` (a VAE is evaluated as it ended, as in the report).
    """
    if choice not in CHECKPOINT_CHOICES:
        raise EvaluationError(f"checkpoint must be one of {list(CHECKPOINT_CHOICES)}, got {choice!r}")
    folder = run / "checkpoints"
    best = sorted(folder.glob("best-*.ckpt"))
    if choice == "auto":
        config = run / ".hydra" / "config.yaml"
        monitor = OmegaConf.select(OmegaConf.load(config), "monitor.metric") if config.is_file() else None
        choice = "best" if best and monitor == SAMPLE_QUALITY_MONITOR else "last"
    if choice == "last":
        return folder / "last.ckpt"
    if not best:
        raise EvaluationError(
            f"{folder} holds no best-*.ckpt (the run monitored no metric, or ended before its first score).\n"
            "Fix: pass checkpoint=last, or ckpt_path=<a .ckpt file>."
        )
    return best[-1]


def load_run_config(run_dir: Path) -> DictConfig:
    """The training run's config, with its output folder pointed at ``run_dir`` (no Hydra context needed)."""
    cfg = OmegaConf.load(run_dir / ".hydra" / "config.yaml")
    for key in ("model", "data"):
        if key not in cfg:
            raise EvaluationError(
                f"{run_dir / '.hydra' / 'config.yaml'} has no '{key}' section; it is not a training run config.\n"
                "Fix: pass run_dir=<a folder written by `python -m genmodels.train`>."
            )
    if "paths" in cfg:
        cfg.paths.output_dir = str(run_dir)
    cfg.model._target_ = MOVED_MODELS.get(cfg.model.get("_target_"), cfg.model.get("_target_"))
    return cfg


def load_checkpoint(path: Path) -> dict[str, Any]:
    """A Lightning checkpoint loaded with ``weights_only=True`` (tensors and plain containers only)."""
    try:
        state = checkpoints.load_checkpoint(path)
    except checkpoints.CheckpointError as exc:  # its message names the file and the fix
        raise EvaluationError(str(exc)) from None
    if not isinstance(state, dict) or "state_dict" not in state:
        raise EvaluationError(f"{path} holds no 'state_dict'.\nFix: pass a Lightning checkpoint of a training run.")
    return state


def pick_device(name: str) -> torch.device:
    """``auto`` -> cuda when available, else cpu; anything else as given."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


@contextmanager
def timed(timings: dict[str, float], key: str) -> Iterator[None]:
    """Record the wall time of the block under ``timings[key]`` (seconds)."""
    started = time.perf_counter()
    try:
        yield
    finally:
        timings[key] = time.perf_counter() - started


# ----------------------------------------------------------------------------------------------
# Reporting


def publish(run_dir: Path, result: dict[str, Any]) -> None:
    """eval.json, metrics.json["eval"], TensorBoard scalars and the printed table."""
    write_json(run_dir / EVAL_FILE, result)
    merge_into_metrics_json(run_dir / "metrics.json", result)
    log_to_tensorboard(run_dir / "tensorboard", result)
    print_table(result)


def merge_into_metrics_json(path: Path, result: dict[str, Any]) -> None:
    """Put the numbers (and their floors) under the "eval" key of the run's metrics.json."""
    import json

    summary: dict[str, Any] = {}
    if path.exists():
        try:
            summary = json.loads(path.read_text())
        except json.JSONDecodeError as exc:
            raise EvaluationError(
                f"{path} is not valid JSON ({exc}).\nFix: delete it or restore it, then evaluate again."
            ) from exc
    summary["eval"] = {
        **result["metrics"],
        **{f"{key}_floor": value for key, value in result["floors"].items()},
        "binarization_note": result["binarization_note"],
        "iwae_k": result["settings"]["iwae_k"],
        "num_samples": result["settings"]["num_samples"],
        "details": EVAL_FILE,
    }
    write_json(path, summary)


def log_to_tensorboard(folder: Path, result: dict[str, Any]) -> None:
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
    ("fid_classifier", "FID ({classifier} classifier)", lambda r: "lower is better"),
    ("inception_score", "Inception Score ({classifier} classifier)", lambda r: "higher is better, max 10"),
    ("class_entropy", "class entropy (nats)", lambda r: f"max log 10 = {math.log(10):.3f}"),
    ("precision", "precision (k-NN)", lambda r: f"k={r['settings']['pr_k']}"),
    ("recall", "recall (k-NN)", lambda r: f"k={r['settings']['pr_k']}"),
    ("inception_fid", "FID (InceptionV3)", lambda r: f"{r['settings']['inception_samples']} images"),
    ("classifier_test_accuracy", "{classifier} classifier test accuracy", lambda r: "the classifier behind FID and IS"),
)


def table_rows(result: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """(metric, value, real-vs-real floor, note) for every number computed."""
    rows = []
    for key, label, note in ROWS:
        if key not in result["metrics"]:
            continue
        label = label.format(classifier=dataset_title(result["dataset"]))
        text = _number(result["metrics"][key])
        if f"{key}_sem" in result["metrics"]:
            text += f" ± {result['metrics'][f'{key}_sem']:.2f}"
        floor = result["floors"].get(key)
        rows.append((label, text, "" if floor is None else _number(floor), note(result)))
    return rows


def _number(value: float) -> str:
    """Four decimals for small values, two for large ones."""
    return f"{value:.4f}" if abs(value) < 10 else f"{value:.2f}"


def table_markdown(result: dict[str, Any]) -> str:
    """The table as Markdown, for TensorBoard's text tab."""
    lines = ["| metric | value | real-vs-real floor | note |", "|---|---|---|---|"]
    lines += [f"| {' | '.join(row)} |" for row in table_rows(result)]
    lines += ["", *targets_line(result), f"Timings (s): {result['timings_s']}"]
    return "\n".join(lines)


def targets_line(result: dict[str, Any]) -> list[str]:
    """The targets the likelihood numbers belong to, as a line, if there are such numbers."""
    return [f"Targets: {result['binarization_note']}"] if "test_neg_elbo" in result["metrics"] else []


def print_table(result: dict[str, Any]) -> None:
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
    for line in targets_line(result):
        console.print(line)
    for key, reason in result.get("skipped", {}).items():
        console.print(f"Not computed: metrics.{key} ({reason})")
    console.print("Timings (s): " + ", ".join(f"{key} {value}" for key, value in result["timings_s"].items()))
    console.print(f"Written: {Path(result['run_dir']) / EVAL_FILE}")


@hydra.main(version_base="1.3", config_path="../../configs", config_name="evaluate")
def main(cfg: DictConfig) -> None:
    """Hydra entry point: a missing run, checkpoint, config, capability or data file ends in one message (exit 2)."""
    try:
        evaluate(cfg)
    except (EvaluationError, CapabilityError, DataError) as exc:
        print(f"genmodels.evaluate: error: {exc}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    exit_on_unknown_keys("evaluate")
    try:
        main()
    except KeyboardInterrupt:  # Ctrl-C; results are written only once every number is computed
        print(  # on a line of its own, also after a progress bar
            "\ngenmodels.evaluate: interrupted (Ctrl-C) before the evaluation finished. Fix: run the same command "
            "again to evaluate.",
            file=sys.stderr,
        )
        sys.exit(130)

"""Sampling entry point: ``python -m genmodels.sample run_dir=<a training run's folder> num=<n> out=<folder>``.

Loads the run's model as ``genmodels.load_run`` does (only known classes are built, checkpoints are read
weights-only), draws ``num`` samples from seeded codes (a conditional model: of class ``label``, or each class in
turn), or reconstructs given images (``reconstruct=<folder or .npz>``; a conditional model's given their classes),
and writes them into ``out`` as PNG files, one ``.npz`` or one grid, with ``samples.json``. ``out`` is written beside
its place and moved there whole: a failed or interrupted command leaves it as it was, and it never lies inside the
run folder unless asked.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import hydra
import torch
from omegaconf import DictConfig

from genmodels.contract import GeneratesImages, ReconstructsImages, require
from genmodels.errors import ConfigError, command_errors
from genmodels.overrides import composition_errors
from genmodels.runs.loading import LoadedRun, open_run, run_folder
from genmodels.sample_files import (
    FORMATS,
    as_bytes,
    check_out_folder,
    read_images,
    staged_folder,
    write_grid,
    write_manifest,
    write_npz,
    write_pngs,
)
from genmodels.sampling import class_labels, reconstruction_batches, reconstruction_labels, sample_batches

log = logging.getLogger(__name__)

RECONSTRUCTIONS_PER_ROW = 8  # a grid of reconstructions: a row of inputs above a row of their reconstructions


def sample(cfg: DictConfig) -> Path:
    """Write the samples (or reconstructions) ``cfg`` asks for; returns the folder written. Every setting, the run
    folder and ``out`` are checked before the model is loaded, the pictures to reconstruct before anything is
    written."""
    check_settings(cfg)
    folder, _ = run_folder(cfg.run_dir, None)
    out = Path(cfg.out).expanduser()
    check_out_folder(out, folder, cfg.overwrite, cfg.write_into_run)
    run = open_run(folder, cfg.checkpoint, cfg.device, None, cfg.allowed_targets or (), cfg.trust_run_config)
    images, sources, given_labels, data = None, [], None, None
    if cfg.reconstruct:  # the pictures are read at the run's channels and image size, as its data module reads
        data = run.build_data()
        images, sources, given_labels = read_images(cfg.reconstruct, data.channels, data.image_size)
    settings = {
        "run_dir": str(folder),
        "checkpoint": str(run.checkpoint),
        "checkpoint_epoch": run.epoch,
        "model": type(run.model).__name__,
        **{key: cfg[key] for key in ("num", "seed", "label", "format", "batch_size", "reconstruct")},
    }
    with staged_folder(out) as staging:
        if images is None:
            written = write_samples(cfg, run, staging, settings)
        else:
            labels = reconstruction_labels(run.model, len(images[: cfg.num]), cfg.label, given_labels, cfg.reconstruct)
            inputs = (images[: cfg.num], labels, sources)
            written = write_reconstructions(cfg, run, data.transform, inputs, staging, settings)
        write_manifest(staging, {**settings, **written})
    log.info("Wrote %s to %s", written["written"], out)
    return out


def check_settings(cfg: DictConfig) -> None:
    """One line for a setting out of range: format, num, batch_size."""
    if cfg.format not in FORMATS:
        raise ConfigError(f"format must be one of {list(FORMATS)}, got {cfg.format!r}")
    if cfg.num is None and not cfg.reconstruct:
        raise ConfigError("num=<how many samples> is missing. Fix: add e.g. num=64.")
    for key in ("num", "batch_size"):
        if cfg[key] is not None and cfg[key] < 1:
            raise ConfigError(f"{key} must be a positive integer, got {cfg[key]}")


def write_samples(cfg: DictConfig, run: LoadedRun, folder: Path, settings: dict[str, Any]) -> dict[str, Any]:
    """``cfg.num`` samples of ``run``'s model in ``cfg.format``; what the manifest records of them."""
    model, count = run.model, cfg.num
    require(model, GeneratesImages, "genmodels.sample", "pass reconstruct=<images> to reconstruct images instead")
    labels = class_labels(model, count, cfg.label)
    device = next(model.parameters()).device
    batches = sample_batches(model, count, cfg.batch_size, cfg.seed, device, labels)
    pictures = (batch for batch, _ in progress(batches, count, cfg.progress))
    if cfg.format == "png":
        files = write_pngs(folder, pictures, "sample", count)
        return {"written": f"{count} samples ({files[0]} ...)", "labels": None if labels is None else labels.tolist()}
    everything = torch.cat(list(pictures))
    if cfg.format == "npz":
        no_label = torch.full((count,), -1, dtype=torch.long)
        arrays = {"images": as_bytes(everything), "labels": no_label if labels is None else labels}
        return {"written": f"{count} samples ({write_npz(folder, 'samples.npz', arrays, settings)})"}
    balanced = labels is not None and cfg.label is None  # each column one class
    name = write_grid(folder, "samples.png", everything, model.num_classes if balanced else None)
    return {"written": f"a grid of {count} samples ({name})", "labels": None if labels is None else labels.tolist()}


def write_reconstructions(
    cfg: DictConfig,
    run: LoadedRun,
    prepare: Callable[[torch.Tensor], torch.Tensor],
    given: tuple[torch.Tensor, torch.Tensor | None, list[str]],
    folder: Path,
    settings: dict[str, Any],
) -> dict[str, Any]:
    """Reconstructions of the ``given`` images (uint8 (N, C, H, W)), their classes (a conditional model's) and
    where they came from, in ``cfg.format``; ``prepare`` (the run's data module's transform) converts them to the
    model's input as it converts a batch. What the manifest records of them."""
    (images, labels, sources), model = given, run.model
    count = len(images)
    require(model, ReconstructsImages, f"reconstruct={cfg.reconstruct}", "drop reconstruct= to draw samples")
    torch.manual_seed(cfg.seed)  # a dynamically binarized run's data module draws its inputs' pixels
    device = next(model.parameters()).device
    batches = reconstruction_batches(model, images, cfg.batch_size, prepare, device, labels)
    batches = progress(batches, count, cfg.progress)
    inputs = {"inputs": sources[:count], "labels": None if labels is None else labels.tolist()}
    if cfg.format == "png":
        files = write_pngs(folder, (reconstructions for reconstructions, _ in batches), "reconstruction", count)
        return {"written": f"{count} reconstructions ({files[0]} ...)", **inputs}
    reconstructions, seen = (torch.cat(parts) for parts in zip(*batches))
    if cfg.format == "npz":
        arrays = {"images": as_bytes(reconstructions), "inputs": as_bytes(seen)}
        return {
            "written": f"{count} reconstructions ({write_npz(folder, 'reconstructions.npz', arrays, settings)})",
            **inputs,
        }
    rows = zip(seen.split(RECONSTRUCTIONS_PER_ROW), reconstructions.split(RECONSTRUCTIONS_PER_ROW))
    name = write_grid(
        folder, "reconstructions.png", torch.cat([row for pair in rows for row in pair]), RECONSTRUCTIONS_PER_ROW
    )
    return {"written": f"a grid of {count} inputs above their reconstructions ({name})", **inputs}


def progress(batches: Iterable, total: int, enabled: bool) -> Iterator:
    """The batches, counted on a progress bar of ``total`` images (none with ``enabled=false``)."""
    from tqdm.auto import tqdm

    with tqdm(total=total, desc="Drawing", unit="img", disable=not enabled, leave=False) as bar:
        for batch in batches:
            yield batch
            bar.update(len(batch[0]))


@hydra.main(version_base="1.3", config_path="../../configs", config_name="sample")
def main(cfg: DictConfig) -> None:
    """Hydra entry point: a failure the user can fix ends in one line (exit 1), Ctrl-C in exit 130; ``out`` is
    written only once every image is drawn."""
    with command_errors():
        sample(cfg)


if __name__ == "__main__":
    with composition_errors("sample"):
        main()

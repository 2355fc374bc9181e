"""Drawing from a trained model in batches: samples from seeded codes (with class labels for a conditional model),
and reconstructions of given images. Each batch comes to the CPU as pictures in [0, 1]."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import torch

from genmodels.contract import GeneratesConditionally, GeneratesImages, ReconstructsImages, require
from genmodels.errors import ConfigError

# One batch: pictures (b, C, H, W) float in [0, 1] on the CPU, and their class labels (b,) or None.
Batch = tuple[torch.Tensor, torch.Tensor | None]


def class_labels(model: Any, count: int, label: int | None) -> torch.Tensor | None:
    """The labels to draw ``count`` samples with: ``label`` for all (a conditional model only), else each class in
    turn (0, 1, ..., K-1, 0, ...) for a conditional model, and None for an unconditional one."""
    if label is not None:
        require(model, GeneratesConditionally, f"label={label}", "drop label= to draw from all classes")
        if type(label) is not int or not 0 <= label < model.num_classes:
            raise ConfigError(f"label must be a class index from 0 to {model.num_classes - 1}, got {label!r}")
        return torch.full((count,), label, dtype=torch.long)
    if isinstance(model, GeneratesConditionally):
        return torch.arange(count) % model.num_classes
    return None


def reconstruction_labels(model: Any, count: int, label: int | None, given: torch.Tensor | None, source: str):
    """The classes of ``count`` images to reconstruct, for a conditional model: ``label`` for all, else the classes
    ``given`` with the images (from ``source``); None for an unconditional model (which needs none). ``ConfigError``
    where a conditional model is left without an image's class."""
    if label is not None:
        return class_labels(model, count, label)
    if not isinstance(model, GeneratesConditionally):
        return None
    given = None if given is None else given[:count]
    if given is None or (given < 0).any() or (given >= model.num_classes).any():
        where = "has none" if given is None else f"gives {sorted(set(given.tolist()))}"
        raise ConfigError(
            f"reconstruct={source}: {type(model).__name__} is conditional and reconstructs each image given its class "
            f"(0 to {model.num_classes - 1}); {source} {where}. Fix: label=<class> for every image, or pictures in "
            "class subfolders (<folder>/0/, <folder>/1/, ...), or an .npz with a labels array."
        )
    return given


def generate(model: GeneratesImages, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
    """``model.generate(z)``, or a conditional model's ``generate(z, labels)`` (labels (B,) moved to z's device)."""
    return model.generate(z) if labels is None else model.generate(z, labels.to(z.device))


@torch.no_grad()
def sample_batches(
    model: GeneratesImages,
    count: int,
    batch_size: int,
    seed: int,
    device: torch.device,
    labels: torch.Tensor | None = None,
) -> Iterator[Batch]:
    """``count`` samples in batches of ``batch_size``, from standard-normal codes that one CPU generator seeded with
    ``seed`` draws batch after batch: the same seed and batch size give the same codes on any device. ``labels``
    (count,): the classes of a conditional model's samples."""
    generator = torch.Generator().manual_seed(seed)
    for start in range(0, count, batch_size):
        z = torch.randn(min(batch_size, count - start), model.latent_dim, generator=generator).to(device)
        y = None if labels is None else labels[start : start + len(z)]
        yield generate(model, z, y).float().clamp(0, 1).cpu(), y


@torch.no_grad()
def reconstruction_batches(
    model: ReconstructsImages,
    images: torch.Tensor,
    batch_size: int,
    prepare: Any,
    device: torch.device,
    labels: torch.Tensor | None = None,
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Reconstructions of uint8 images (N, C, H, W) in batches: (reconstructions, the inputs as the model saw them),
    both pictures (b, C, H, W) in [0, 1] on the CPU. ``prepare``: uint8 (b, C, H, W) -> the model's data space (the
    run's data module's transform: scaled, resized, in its pixel range). ``labels`` (N,): a conditional model's
    classes."""
    for start in range(0, len(images), batch_size):
        x = prepare(images[start : start + batch_size].to(device))
        y = () if labels is None else (labels[start : start + batch_size].to(device),)
        yield model.reconstruct(x, *y).float().clamp(0, 1).cpu(), model.to_unit_range(x).float().clamp(0, 1).cpu()

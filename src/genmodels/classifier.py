"""Training and caching the evaluation classifier (``genmodels.metrics.classifier``) once per labelled dataset (its
``ReferenceData``), under ``<folder>/classifiers/<name>_cnn.pt`` with a JSON sidecar (test accuracy, settings, sha256
checked on load)."""

from __future__ import annotations

import io
import json
import logging
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.optim.swa_utils import update_bn
from tqdm.auto import tqdm

from genmodels.data.datamodule import ReferenceData
from genmodels.data.provision import check_writable
from genmodels.hashing import file_digest
from genmodels.metrics.classifier import ImageClassifier, accuracy, to_classifier_input
from genmodels.runs.atomic import write_atomic, write_json

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ClassifierSettings:
    """How the classifier is trained (``train_images``: None for all); other settings get their own cache file."""

    epochs: int = 3
    batch_size: int = 128
    lr: float = 3e-3
    seed: int = 0
    train_images: int | None = None

    def file_stem(self, dataset: str) -> str:
        if self == ClassifierSettings():
            return f"{dataset}_cnn"
        suffix = f"e{self.epochs}_b{self.batch_size}_lr{self.lr:g}_s{self.seed}_n{self.train_images or 'all'}"
        return f"{dataset}_cnn_{suffix}"


def train_classifier(
    train_images: torch.Tensor,
    train_labels: torch.Tensor,
    untrained: ImageClassifier,
    settings: ClassifierSettings = ClassifierSettings(),
    device: torch.device | str = "cpu",
    progress: bool = True,
) -> ImageClassifier:
    """Train the ``untrained`` CNN on uint8 (N, C, H, W) images with Adam and a linearly decaying learning rate."""
    device = torch.device(device)
    generator = torch.Generator().manual_seed(settings.seed)

    def inputs(images: torch.Tensor) -> torch.Tensor:
        return to_classifier_input(images, untrained.channels, untrained.side)

    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):  # the caller's RNG untouched
        torch.manual_seed(settings.seed)
        model = untrained.to(device)
        images, labels = train_images.to(device), train_labels.to(device)
        total_steps = settings.epochs * -(-len(images) // settings.batch_size)
        optimizer = torch.optim.Adam(model.parameters(), lr=settings.lr)
        schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0 - step / total_steps)
        model.train()
        bar = tqdm(total=total_steps, desc="Training the evaluation classifier", unit="batch", disable=not progress)
        for _ in range(settings.epochs):
            order = torch.randperm(len(images), generator=generator).to(device)
            for start in range(0, len(images), settings.batch_size):
                index = order[start : start + settings.batch_size]
                loss = F.cross_entropy(model(inputs(images[index])), labels[index].long())
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                schedule.step()
                bar.update()
        bar.close()
        # The lagging running batch-norm statistics replaced by exact averages over (up to) 10,000 images.
        batches = range(0, min(len(images), 10000), settings.batch_size)
        update_bn((inputs(images[start : start + settings.batch_size]) for start in batches), model)
    return model.eval()


def untrained_classifier(data: ReferenceData) -> ImageClassifier:
    """The CNN for this dataset's images and classes."""
    return ImageClassifier(data.channels, data.side, data.num_classes)


def classifier_paths(data: ReferenceData, settings: ClassifierSettings) -> tuple[Path, Path]:
    """The weights file and its JSON sidecar."""
    stem = settings.file_stem(data.name)
    folder = data.folder / "classifiers"
    return folder / f"{stem}.pt", folder / f"{stem}.json"


def load_cached_classifier(
    data: ReferenceData, settings: ClassifierSettings, device: torch.device | str = "cpu"
) -> tuple[ImageClassifier | None, dict, str]:
    """The cached classifier and its sidecar, or (None, {}, why it cannot be used)."""
    weights, sidecar = classifier_paths(data, settings)
    if not weights.exists() or not sidecar.exists():
        return None, {}, f"no cached classifier at {weights}"
    try:
        info = json.loads(sidecar.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        return None, {}, f"unreadable sidecar {sidecar} ({exc})"
    actual = file_digest(weights, "sha256")
    if info.get("sha256") != actual:
        return None, {}, f"checksum mismatch for {weights}: sha256 {actual}, sidecar says {info.get('sha256')}"
    if info.get("settings") != asdict(settings):
        return None, {}, f"{weights} was trained with {info.get('settings')}, not {asdict(settings)}"
    model = untrained_classifier(data)
    try:
        model.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
    except (RuntimeError, OSError, EOFError) as exc:  # e.g. an older architecture
        return None, {}, f"{weights} does not load into the current classifier ({exc})"
    return model.to(device).eval(), info, ""


def load_or_train_classifier(
    data: ReferenceData,
    settings: ClassifierSettings = ClassifierSettings(),
    device: torch.device | str = "cpu",
    progress: bool = True,
) -> tuple[ImageClassifier, dict]:
    """The cached classifier of a labelled dataset (eval mode) and its sidecar info, trained on its training images
    and cached first if unusable."""
    weights, sidecar = classifier_paths(data, settings)
    model, info, why = load_cached_classifier(data, settings, device)
    if model is not None:
        return model, {**info, "path": str(weights), "trained_now": False}
    dataset = data.name
    check_writable(weights.parent, f"cache the {dataset} evaluation classifier ({why})")
    log.warning(
        f"Training the {dataset} evaluation classifier first ({why}): done once and cached (MNIST: about 2 "
        "minutes on 2 CPU cores)."
    )
    sets = data.load()
    train_images, train_labels = sets.classifier_train.images, sets.classifier_train.labels
    if settings.train_images is not None:
        train_images, train_labels = train_images[: settings.train_images], train_labels[: settings.train_images]
    started = time.perf_counter()
    model = train_classifier(train_images, train_labels, untrained_classifier(data), settings, device, progress)
    seconds = time.perf_counter() - started
    test_accuracy = accuracy(model, sets.test.images, sets.test.labels)
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    write_atomic(weights, buffer.getvalue())  # a unique temporary name: parallel test workers never collide
    info = {
        "dataset": dataset,
        "test_accuracy": test_accuracy,
        "train_seconds": round(seconds, 2),
        "train_images": len(train_images),
        "device": str(device),
        "settings": asdict(settings),
        "sha256": file_digest(weights, "sha256"),
    }
    write_json(sidecar, info)
    log.info("Classifier trained in %.1f s: test accuracy %.2f%%, saved to %s", seconds, 100 * test_accuracy, weights)
    return model.eval(), {**info, "path": str(weights), "trained_now": True}

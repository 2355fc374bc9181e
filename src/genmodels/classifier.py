"""Training and caching the evaluation classifier (``genmodels.metrics.classifier``) once per dataset, under
``<data_dir>/classifiers/<dataset>_cnn.pt`` with a JSON sidecar (test accuracy, settings, sha256 checked on load)."""

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

from genmodels.data.mnist import MNISTDataModule
from genmodels.data.provision import check_writable
from genmodels.hashing import file_digest
from genmodels.metrics.classifier import MNISTClassifier, accuracy, to_classifier_input
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
    settings: ClassifierSettings = ClassifierSettings(),
    device: torch.device | str = "cpu",
    progress: bool = True,
) -> MNISTClassifier:
    """Train the CNN on uint8 (N, 28, 28) images with Adam and a linearly decaying learning rate."""
    device = torch.device(device)
    generator = torch.Generator().manual_seed(settings.seed)
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):  # the caller's RNG untouched
        torch.manual_seed(settings.seed)
        model = MNISTClassifier().to(device)
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
                loss = F.cross_entropy(model(to_classifier_input(images[index])), labels[index].long())
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                schedule.step()
                bar.update()
        bar.close()
        # The lagging running batch-norm statistics replaced by exact averages over (up to) 10,000 images.
        batches = range(0, min(len(images), 10000), settings.batch_size)
        update_bn((to_classifier_input(images[start : start + settings.batch_size]) for start in batches), model)
    return model.eval()


def has_classifier(datamodule) -> bool:
    """Whether the evaluation classifier can be trained on this data: MNIST and Fashion-MNIST (its own data module);
    other data (a folder, CIFAR-10) has none yet."""
    return isinstance(datamodule, MNISTDataModule)


def classifier_paths(data_dir: str | Path, dataset: str, settings: ClassifierSettings) -> tuple[Path, Path]:
    """The weights file and its JSON sidecar."""
    stem = settings.file_stem(dataset)
    folder = Path(data_dir) / "classifiers"
    return folder / f"{stem}.pt", folder / f"{stem}.json"


def load_cached_classifier(
    data_dir: str | Path, dataset: str, settings: ClassifierSettings, device: torch.device | str = "cpu"
) -> tuple[MNISTClassifier | None, dict, str]:
    """The cached classifier and its sidecar, or (None, {}, why it cannot be used)."""
    weights, sidecar = classifier_paths(data_dir, dataset, settings)
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
    model = MNISTClassifier()
    try:
        model.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
    except (RuntimeError, OSError, EOFError) as exc:  # e.g. an older architecture
        return None, {}, f"{weights} does not load into the current classifier ({exc})"
    return model.to(device).eval(), info, ""


def load_or_train_classifier(
    data_dir: str | Path,
    dataset: str = "mnist",
    settings: ClassifierSettings = ClassifierSettings(),
    device: torch.device | str = "cpu",
    progress: bool = True,
) -> tuple[MNISTClassifier, dict]:
    """The cached classifier of a dataset (eval mode) and its sidecar info, trained and cached first if unusable."""
    weights, sidecar = classifier_paths(data_dir, dataset, settings)
    model, info, why = load_cached_classifier(data_dir, dataset, settings, device)
    if model is not None:
        return model, {**info, "path": str(weights), "trained_now": False}
    check_writable(weights.parent, f"cache the {dataset} evaluation classifier ({why})")
    log.warning(
        f"Training the {dataset} evaluation classifier first ({why}): about 2 minutes on 2 CPU cores, done once "
        "and cached."
    )
    datamodule = MNISTDataModule(data_dir=str(data_dir), dataset=dataset)
    datamodule.setup()
    train_images = torch.cat([datamodule.splits["train"].images, datamodule.splits["val"].images])
    train_labels = torch.cat([datamodule.splits["train"].labels, datamodule.splits["val"].labels])
    if settings.train_images is not None:
        train_images, train_labels = train_images[: settings.train_images], train_labels[: settings.train_images]
    started = time.perf_counter()
    model = train_classifier(train_images, train_labels, settings, device, progress)
    seconds = time.perf_counter() - started
    test = datamodule.splits["test"]
    test_accuracy = accuracy(model, test.images, test.labels)
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

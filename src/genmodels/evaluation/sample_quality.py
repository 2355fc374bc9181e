"""The sample-quality step of an evaluation: classifier FID, IS, class coverage, precision/recall, Inception FID; for a
conditional model, on samples of every class in turn, and its conditional accuracy and per-class FID."""

from __future__ import annotations

from typing import Any

import torch
from omegaconf import OmegaConf

from genmodels.classifier import ClassifierSettings, load_or_train_classifier
from genmodels.contract import GeneratesImages
from genmodels.data.datamodule import ReferenceData, unit_images
from genmodels.data.provision import dataset_title
from genmodels.evaluation import StepResult, timed
from genmodels.metrics.classifier import classifier_outputs
from genmodels.metrics.frechet import (
    class_frechet_distances,
    frechet_distance,
    frechet_distance_from_statistics,
    gaussian_statistics,
)
from genmodels.metrics.sample_quality import class_coverage, conditional_accuracy, inception_score, precision_recall
from genmodels.sampling import class_labels, sample_batches


def evaluate_sample_quality(
    model: GeneratesImages, datamodule: Any, settings: Any, seed: int, device: torch.device, progress: bool = True
) -> StepResult:
    """Score ``settings.num_samples`` samples against the test images (``settings``: the ``metrics`` config) in the
    features of the dataset's evaluation classifier (labelled data) and, with ``settings.inception_fid``, of
    InceptionV3; ``details["features"]`` names them, or says why there are none."""
    data = datamodule.reference_data()
    if data.num_classes is None and not settings.inception_fid:
        why = (
            f"none: {datamodule.dataset} has no labels (no class subfolders) to train an evaluation classifier on. "
            "Fix: metrics.inception_fid=true (the opt-in Inception weights, docs/evaluation.md)"
        )
        return StepResult({}, {"features": why})
    seconds: dict[str, float] = {}
    if data.num_classes is not None:
        with timed(seconds, "classifier"):
            classifier_settings = ClassifierSettings(**OmegaConf.to_container(settings.classifier, resolve=True))
            classifier, classifier_info = load_or_train_classifier(data, classifier_settings, device, progress)
    batch_size, count = int(settings.batch_size), int(settings.num_samples)
    labels = class_labels(model, count, None)  # a conditional model's: balanced, sample i of class i mod K
    with timed(seconds, "sampling"):
        samples = generate_samples(model, count, batch_size, seed, device, labels)
    (test_images, test_labels), (train_images, train_labels) = reference_images(
        data, datamodule.image_size, len(samples), seed
    )
    levels = "grey" if data.channels == 1 else "RGB"
    metrics: dict[str, float] = {}
    floors: dict[str, float] = {}
    details: dict[str, Any] = {
        "num_samples": len(samples),
        "num_test_reference": len(test_images),
        "floor": f"{len(train_images)} training images (seeded subset) against the same test images",
        "reference_images": f"{levels} levels in [0, 1] (not binarized), resized like the training data",
    }
    features = []
    if data.num_classes is not None:
        features.append(f"classifier trained on {dataset_title(datamodule.dataset)} (penultimate layer)")
        with timed(seconds, "classifier_features"):
            (fake_f, fake_p), (test_f, _), (train_f, train_p) = (
                classifier_outputs(classifier, images, batch_size) for images in (samples, test_images, train_images)
            )
        with timed(seconds, "sample_metrics"):
            metrics["classifier_test_accuracy"] = classifier_info["test_accuracy"]
            metrics["fid_classifier"] = frechet_distance(fake_f, test_f)
            floors["fid_classifier"] = frechet_distance(train_f, test_f)
            splits = int(settings.inception_score_splits)
            metrics["inception_score"], metrics["inception_score_std"] = inception_score(fake_p, splits)
            floors["inception_score"], _ = inception_score(train_p, splits)
            coverage, coverage_real = class_coverage(fake_p), class_coverage(train_p)
            metrics["class_entropy"], floors["class_entropy"] = coverage["entropy"], coverage_real["entropy"]
            metrics["precision"], metrics["recall"] = precision_recall(test_f, fake_f, k=int(settings.pr_k))
            floors["precision"], floors["recall"] = precision_recall(test_f, train_f, k=int(settings.pr_k))
        details.update(
            classifier={k: v for k, v in classifier_info.items() if k != "settings"},
            class_histogram=coverage["histogram"],
            class_histogram_floor=coverage_real["histogram"],
            class_normalized_entropy=coverage["normalized_entropy"],
            class_effective_classes=coverage["effective_classes"],
        )
    if labels is not None and data.num_classes is not None:
        with timed(seconds, "conditional_metrics"):
            metrics["conditional_accuracy"] = conditional_accuracy(fake_p, labels)
            floors["conditional_accuracy"] = classifier_info["test_accuracy"]
            details["fid_classifier_per_class"] = class_frechet_distances(fake_f, labels, test_f, test_labels)
            details["fid_classifier_per_class_floor"] = class_frechet_distances(
                train_f, train_labels, test_f, test_labels
            )
        details["labels"] = "balanced: sample i drawn for class i mod num_classes"
    if settings.inception_fid:
        features.append("InceptionV3 pool3")
        with timed(seconds, "inception_fid"):
            fid, floor, inception_details = inception_fid(
                samples, test_images, train_images, data, datamodule.image_size, settings, seed, device, progress
            )
        metrics["inception_fid"], floors["inception_fid"] = fid, floor
        details["inception_fid_images"] = inception_details.pop("images")
        details["inception_fid"] = inception_details
    details["features"] = "; ".join(features)
    return StepResult(metrics, details, floors, seconds)


def generate_samples(
    model: GeneratesImages,
    count: int,
    batch_size: int,
    seed: int,
    device: torch.device,
    labels: torch.Tensor | None = None,
) -> torch.Tensor:
    """``count`` samples (N, C, S, S) in [0, 1] on the CPU, from seeded standard-normal codes (a conditional model's
    of the classes ``labels`` (N,))."""
    batches = sample_batches(model, count, batch_size, seed, device, labels)
    return torch.cat([pictures for pictures, _ in batches])


Labelled = tuple[torch.Tensor, torch.Tensor]  # images (N, C, S, S) in [0, 1] and their labels (N,)


def reference_images(data: ReferenceData, image_size: int, count: int, seed: int) -> tuple[Labelled, Labelled]:
    """Test images and a seeded training subset, with their labels: levels (not binarized) in [0, 1], resized to
    ``image_size`` as in training."""
    sets = data.load()
    test, train = sets.test, sets.train
    count = min(count, len(test))
    order = torch.randperm(len(train), generator=torch.Generator().manual_seed(seed))[:count]
    test_set = unit_images(test.images[:count], image_size), test.labels[:count]
    return test_set, (unit_images(train.images[order], image_size), train.labels[order])


def inception_fid(
    samples: torch.Tensor,
    test_images: torch.Tensor,
    train_images: torch.Tensor,
    data: ReferenceData,
    image_size: int,
    settings: Any,
    seed: int,
    device: torch.device,
    progress: bool,
) -> tuple[float, float, dict[str, Any]]:
    """Inception FID of samples against test images, of training images against them (the floor), and details.

    The real images' statistics are cached in the dataset's folder (``inception_reference``): computed once per
    dataset, image count and network, they leave only the samples to run through InceptionV3.
    """
    from tqdm.auto import tqdm

    from genmodels.evaluation.inception_reference import ReferenceKey, cached_statistics
    from genmodels.metrics.inception import PREPROCESSING, InceptionFeatures

    count = min(int(settings.inception_samples), len(samples), len(test_images), len(train_images))
    step = int(settings.inception_batch_size)
    network = InceptionFeatures(
        settings.inception_weights,
        settings.inception_sha1,
        batch_size=step,
        compile=settings.inception_compile,
    ).to(device)

    def features(images: torch.Tensor, what: str) -> torch.Tensor:
        bar = tqdm(total=count, desc=f"Inception features ({what})", unit="img", disable=not progress, leave=False)
        parts = []
        for start in range(0, count, step):
            parts.append(network(images[start : min(start + step, count)]).cpu())
            bar.update(len(parts[-1]))
        bar.close()
        return torch.cat(parts)

    def key(split: str, selection: str) -> ReferenceKey:
        levels = "grey levels" if data.channels == 1 else "RGB levels"
        preprocessing = f"{levels} at {image_size}x{image_size}; {PREPROCESSING}"
        method = f"sha1 {network.weights_sha1}, {network.method}"
        return ReferenceKey(data.name, split, count, selection, preprocessing, method)

    data_dir = data.folder
    test, test_cached = cached_statistics(data_dir, key("test", "first"), lambda: features(test_images, "test"))
    train, train_cached = cached_statistics(
        data_dir, key("train", f"seeded permutation (seed {seed})"), lambda: features(train_images, "training")
    )
    fake = gaussian_statistics(features(samples, "samples"))
    details = {
        "images": count,
        "method": network.method + (", inductor" if network.compiled else ""),
        "reference_statistics_cached": test_cached and train_cached,
    }
    return frechet_distance_from_statistics(*fake, *test), frechet_distance_from_statistics(*train, *test), details

"""The evaluation classifier: input preparation, caching with checksums, retraining, and its accuracy."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import pytest
import torch

from genmodels import classifier
from genmodels.classifier import ClassifierSettings, classifier_paths, load_cached_classifier, load_or_train_classifier
from genmodels.data.provision import raw_dir
from genmodels.errors import DataError
from genmodels.metrics.classifier import ImageClassifier, accuracy, classifier_outputs, to_classifier_input
from tests.helpers import mnist_reference

SYSFS = Path("/sys/kernel")


@pytest.fixture
def data_copy(tmp_path: Path, mnist_dir: Path) -> Path:
    """A data folder whose MNIST raw files link to the real ones, so the cache goes into tmp."""
    source = raw_dir(mnist_dir, "mnist")
    target = raw_dir(tmp_path, "mnist")
    target.mkdir(parents=True)
    for path in source.iterdir():
        if path.is_file():
            (target / path.name).symlink_to(path)
    return tmp_path


def test_inputs_are_scaled_and_resized_to_28_and_outputs_are_features_and_probabilities():
    uint8 = torch.full((2, 64, 64), 255, dtype=torch.uint8)
    x = to_classifier_input(uint8)
    assert x.shape == (2, 1, 28, 28) and torch.allclose(x, torch.ones_like(x))
    floats = torch.rand(3, 1, 32, 32)
    assert to_classifier_input(floats).shape == (3, 1, 28, 28)
    native = torch.rand(3, 1, 28, 28)
    torch.testing.assert_close(to_classifier_input(native), native)
    with pytest.raises(ValueError, match="1 channel"):
        to_classifier_input(torch.rand(1, 3, 28, 28))
    features, probabilities = classifier_outputs(ImageClassifier(), torch.rand(5, 1, 32, 32), batch_size=2)
    assert features.shape == (5, ImageClassifier.feature_dim) and probabilities.shape == (5, 10)
    torch.testing.assert_close(probabilities.sum(dim=1), torch.ones(5))


def test_the_mnist_network_is_unchanged_and_colour_gets_a_wider_one():
    mnist = ImageClassifier()
    shapes = {name: tuple(p.shape) for name, p in mnist.state_dict().items()}
    assert sum(p.numel() for p in mnist.parameters()) == 98_666
    assert shapes["body.0.weight"] == (16, 1, 3, 3) and shapes["body.13.weight"] == (128, 576)
    colour = ImageClassifier(channels=3, side=32, num_classes=3)
    features, probabilities = classifier_outputs(colour, torch.rand(4, 3, 48, 48))
    assert features.shape == (4, 128) and probabilities.shape == (4, 3)
    assert colour.body[0].weight.shape == (32, 3, 3, 3) and colour.body[13].weight.shape == (128, 128 * 4 * 4)


def test_non_default_settings_get_their_own_cache_file(tmp_path, quick_classifier):
    default, _ = classifier_paths(mnist_reference(tmp_path), ClassifierSettings())
    quick, sidecar = classifier_paths(mnist_reference(tmp_path), quick_classifier)
    assert default.name == "mnist_cnn.pt" and quick != default and sidecar.suffix == ".json"


def test_cache_is_verified_reused_without_writing_and_retrained_when_corrupt(
    data_copy, mnist_dir, quick_classifier, caplog, monkeypatch
):
    caplog.set_level(logging.INFO, logger="genmodels.classifier")
    assert "no cached classifier" in load_cached_classifier(mnist_reference(data_copy), quick_classifier)[2]
    weights, sidecar = classifier_paths(mnist_reference(data_copy), quick_classifier)
    weights.parent.mkdir()
    # the session's cache, as a fresh copy
    for source in classifier_paths(mnist_reference(mnist_dir), quick_classifier):
        shutil.copy(source, weights.parent)
    saved = json.loads(sidecar.read_text())
    assert 0.5 < saved["test_accuracy"] <= 1.0 and saved["train_images"] == 2000 and saved["settings"]["epochs"] == 1

    with monkeypatch.context() as read_only:

        def no_writing(folder, purpose):  # a read-only folder still serves its cached classifier
            raise DataError(f"cannot write into {folder}")

        read_only.setattr(classifier, "check_writable", no_writing)
        _, info = load_or_train_classifier(mnist_reference(data_copy), quick_classifier)
    assert not info["trained_now"] and info["sha256"] == saved["sha256"] and caplog.text == ""

    weights.write_bytes(weights.read_bytes()[:-10] + b"0123456789")  # same size, other content
    _, info_retrained = load_or_train_classifier(mnist_reference(data_copy), quick_classifier)
    assert info_retrained["trained_now"] and "checksum mismatch" in caplog.text
    assert load_cached_classifier(mnist_reference(data_copy), quick_classifier)[1]["sha256"] == info_retrained["sha256"]
    assert sorted(path.name for path in weights.parent.iterdir()) == sorted([weights.name, sidecar.name])


@pytest.mark.slow
def test_default_classifier_reaches_99_percent(mnist_dir):
    """Loads the cached default classifier (training it first, a few minutes on a CPU, if missing)."""
    from genmodels.data.mnist import MNISTDataModule

    model, info = load_or_train_classifier(mnist_reference(mnist_dir))
    datamodule = MNISTDataModule(data_dir=str(mnist_dir))
    datamodule.setup()
    test = datamodule.splits["test"]
    measured = accuracy(model, test.images, test.labels)
    assert measured >= 0.99, info
    assert measured == pytest.approx(info["test_accuracy"], abs=1e-6)


@pytest.mark.skipif(not SYSFS.is_dir(), reason="needs Linux's /sys")
def test_a_cache_folder_nobody_can_write_is_one_message_with_the_fix(data_copy, quick_classifier):
    (data_copy / "classifiers").symlink_to(SYSFS)  # sysfs: no process may create a file there, root included
    with pytest.raises(DataError) as error:
        load_or_train_classifier(mnist_reference(data_copy), quick_classifier)
    message = str(error.value)
    assert message.startswith(f"cannot write into {data_copy / 'classifiers'} (") and "\n" not in message
    assert "to cache the mnist evaluation classifier" in message and "Fix: make it writable" in message

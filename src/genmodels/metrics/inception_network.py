"""An eager copy of the TorchScript FID InceptionV3 with each batch norm folded into its convolution.

The TorchScript file runs every convolution, batch norm and ReLU as separate passes over memory and copies
each branch to NCHW (``contiguous()``) before concatenating: about 40 % of its time on a CPU is spent outside
the convolutions. The copy computes the same function (up to float32 rounding: checked in the tests) as
convolution + bias + ReLU, which oneDNN runs fused, and keeps whatever memory format it is given (channels-last).
"""

from __future__ import annotations

import torch
from torch import nn

BATCH_NORM_EPS = 1e-3  # the TF graph's epsilon, as in the TorchScript Conv2dLayer
BRANCHING_BLOCKS = ("InceptionA", "InceptionB", "InceptionC", "InceptionD")


def folded_convolution(layer: torch.jit.ScriptModule) -> nn.Sequential:
    """Conv2dLayer (conv without bias, batch norm without scale, ReLU) -> Conv2d with bias, ReLU.

    BN(conv(x, W)) = conv(x, W * s) + (beta - mean * s) with s = 1 / sqrt(var + eps), per output channel (C_out,).
    """
    weight = layer.weight.detach()  # (C_out, C_in, kh, kw)
    scale = (layer.var.detach().double() + BATCH_NORM_EPS).rsqrt()
    padding = layer.padding if isinstance(layer.padding, int) else tuple(layer.padding)
    conv = nn.Conv2d(weight.shape[1], weight.shape[0], tuple(weight.shape[2:]), layer.stride, padding, bias=True)
    with torch.no_grad():
        conv.weight.copy_(weight.double() * scale.view(-1, 1, 1, 1))
        conv.bias.copy_(layer.beta.detach().double() - layer.mean.detach().double() * scale)
    return nn.Sequential(conv, nn.ReLU(inplace=True))


def pooling(layer: torch.jit.ScriptModule) -> nn.Module:
    """The eager nn.MaxPool2d / nn.AvgPool2d of a scripted one (its settings are TorchScript constants)."""
    common = {"kernel_size": layer.kernel_size, "stride": layer.stride, "padding": layer.padding}
    if layer.original_name == "MaxPool2d":
        return nn.MaxPool2d(**common, dilation=layer.dilation, ceil_mode=layer.ceil_mode)
    return nn.AvgPool2d(**common, ceil_mode=layer.ceil_mode, count_include_pad=layer.count_include_pad)


class Branches(nn.Module):
    """InceptionA-D: every child applied to the input, outputs concatenated along channels in child order."""

    def __init__(self, branches: list[nn.Module]) -> None:
        super().__init__()
        self.branches = nn.ModuleList(branches)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([branch(x) for branch in self.branches], dim=1)


class ExpandedBranches(nn.Module):
    """InceptionE: two towers whose last step splits into a 1x3 and a 3x1 convolution, beside a 1x1 and a pool."""

    def __init__(self, layers: dict[str, nn.Module]) -> None:
        super().__init__()
        self.layers = nn.ModuleDict(layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        layer = self.layers
        a = layer["tower_conv"](x)
        b = layer["tower_1_conv_1"](layer["tower_1_conv"](x))
        outputs = [
            layer["conv"](x),
            layer["tower_mixed_conv"](a),
            layer["tower_mixed_conv_1"](a),
            layer["tower_1_mixed_conv"](b),
            layer["tower_1_mixed_conv_1"](b),
            layer["tower_2_conv"](layer["tower_2_pool"](x)),
        ]
        return torch.cat(outputs, dim=1)


def eager_copy(module: torch.jit.ScriptModule) -> nn.Module:
    """The eager equivalent of a scripted FID-Inception module, built recursively from its children."""
    kind = module.original_name
    if kind == "Conv2dLayer":
        return folded_convolution(module)
    if kind in ("MaxPool2d", "AvgPool2d"):
        return pooling(module)
    children = {name: eager_copy(child) for name, child in module.named_children()}
    if kind == "Sequential":
        return nn.Sequential(*children.values())
    if kind in BRANCHING_BLOCKS:
        return Branches(list(children.values()))
    if kind == "InceptionE":
        return ExpandedBranches(children)
    if kind == "WrapNet":  # the outer wrapper only checks for 3 input channels
        return children["net"]
    if kind == "InceptionV3":  # the layers, then (B, 2048, 1, 1) -> (B, 2048)
        return nn.Sequential(children["layers"], nn.Flatten())
    raise ValueError(f"unexpected module {kind} in the Inception network: not the FID InceptionV3 graph")

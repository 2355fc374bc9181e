"""A convolutional decoder's last layer, which doubles the side: the function and parameters of a 4x4
``nn.ConvTranspose2d`` of stride 2, computed in a way that is fast for the few output channels of a likelihood."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

# Output row 2m + r of a 4x4 transposed convolution of stride 2 and padding 1 sums input rows m + d weighted by
# kernel row k, for the two (d, k) of its phase r: (-1, 3) and (0, 1) for r = 0; (0, 2) and (1, 0) for r = 1.
PHASE_TAPS = {0: ((-1, 3), (0, 1)), 1: ((0, 2), (1, 0))}


class OutputConvTranspose2d(nn.ConvTranspose2d):
    """The decoder's last layer: a 4x4 transposed convolution of stride 2 and padding 1 (the side doubles), with
    ``nn.ConvTranspose2d``'s parameters and function, computed as one matrix product (every input pixel's 4x4
    contributions) and, for each of the four output phases, a sum of four shifted slices: 2-3x as fast on a CPU for
    the few output channels of a likelihood's parameters (docs/measurements.md, IWAE evaluation rate)."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__(in_channels, out_channels, kernel_size=4, stride=2, padding=1)

    def forward(self, h: torch.Tensor) -> torch.Tensor:  # (B, C_in, S, S) -> (B, C_out, 2S, 2S)
        batch, _, side, _ = h.shape
        contributions = h.permute(0, 2, 3, 1).flatten(0, 2) @ self.weight.flatten(start_dim=1)  # (B*S*S, C_out*16)
        padded = F.pad(  # (B, C_out, 4, 4, S + 2, S + 2): kernel position, then the input pixel, zero-padded
            contributions.view(batch, side, side, self.out_channels, 4, 4).permute(0, 3, 4, 5, 1, 2), (1, 1, 1, 1)
        )

        def phase(row: int, column: int) -> torch.Tensor:  # output pixels (2m + row, 2n + column): (B, C_out, S, S)
            return sum(
                padded[:, :, k_row, k_column, 1 + d_row : 1 + d_row + side, 1 + d_column : 1 + d_column + side]
                for d_row, k_row in PHASE_TAPS[row]
                for d_column, k_column in PHASE_TAPS[column]
            )

        rows = [torch.stack([phase(row, column) for column in (0, 1)], dim=-1) for row in (0, 1)]  # (B, C, S, S, 2)
        pixels = torch.stack(rows, dim=3).reshape(batch, self.out_channels, 2 * side, 2 * side)  # (B, C, S, 2, S, 2)
        return pixels + self.bias.view(1, -1, 1, 1)

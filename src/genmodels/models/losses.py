"""Loss terms as pure functions: one value per sample, no reduction, no logging."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def bernoulli_nll(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """-log p(x | logits) under independent Bernoullis, summed over pixels: (B, ...) -> (B,); with grey-level
    targets in [0, 1], the cross-entropy (the usual continuous relaxation)."""
    per_pixel = F.binary_cross_entropy_with_logits(logits, targets, reduction="none")
    return per_pixel.flatten(start_dim=1).sum(dim=1)


def discriminator_loss(
    real_logits: torch.Tensor, fake_logits: torch.Tensor, real_targets: torch.Tensor
) -> torch.Tensor:
    """The discriminator's binary cross-entropy, (B,): real images against ``real_targets``, fakes against 0."""
    real = F.binary_cross_entropy_with_logits(real_logits, real_targets, reduction="none")
    fake = F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits), reduction="none")
    return real + fake


def generator_loss(fake_logits: torch.Tensor, non_saturating: bool = True) -> torch.Tensor:
    """Generator loss per sample, (B,): -log D(G(z)) if ``non_saturating``, else the minimax log(1 - D(G(z)))."""
    if non_saturating:
        return F.binary_cross_entropy_with_logits(fake_logits, torch.ones_like(fake_logits), reduction="none")
    # log(1 - sigmoid(l)) = -softplus(l)
    return -F.softplus(fake_logits)

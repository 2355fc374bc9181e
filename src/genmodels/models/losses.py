"""Loss terms as pure functions: one value per sample, no reduction, no logging."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def gaussian_kl_to_standard_normal(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL( N(mu, diag exp(logvar)) || N(0, I) ) in nats, summed over latent dims: (B, D) -> (B,)."""
    return 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar).sum(dim=-1)


def bernoulli_nll(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """-log p(x | logits) under independent Bernoullis, summed over pixels: (B, ...) -> (B,).

    Targets may be grey levels in [0, 1]; then this is the cross-entropy, which is the usual
    (continuous-relaxation) reading of the Bernoulli likelihood on grey-level MNIST.
    """
    per_pixel = F.binary_cross_entropy_with_logits(logits, targets, reduction="none")
    return per_pixel.flatten(start_dim=1).sum(dim=1)


def discriminator_loss(
    real_logits: torch.Tensor, fake_logits: torch.Tensor, real_targets: torch.Tensor
) -> torch.Tensor:
    """Binary cross-entropy of the discriminator: real images against ``real_targets``, fakes against 0.

    Returns one value per pair of real and fake samples, (B,).
    """
    real = F.binary_cross_entropy_with_logits(real_logits, real_targets, reduction="none")
    fake = F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits), reduction="none")
    return real + fake


def generator_loss(fake_logits: torch.Tensor, non_saturating: bool = True) -> torch.Tensor:
    """Generator loss per sample, (B,).

    ``non_saturating``: maximise log D(G(z)), i.e. minimise -log D(G(z)) (Goodfellow et al. 2014's
    trick); otherwise the minimax form, minimise log(1 - D(G(z))).
    """
    if non_saturating:
        return F.binary_cross_entropy_with_logits(fake_logits, torch.ones_like(fake_logits), reduction="none")
    # log(1 - sigmoid(l)) = -softplus(l)
    return -F.softplus(fake_logits)

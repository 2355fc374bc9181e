"""The variational auto-encoder of the report: MLP encoder and decoder with a Bernoulli likelihood.

Loss per image (nats): ``-ELBO = E_q[-log p(x|z)] + KL(q(z|x) || N(0, I))``, with one reparameterized
sample ``z = mu + exp(logvar / 2) * eps`` for the expectation. The logged ``*/neg_elbo`` is always the
true negative bound (beta = 1, positive, lower is better), whatever beta the training loss uses.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import lightning as L
import torch
from torch import nn

from genmodels.epoch_means import EpochMeans
from genmodels.losses import bernoulli_nll, gaussian_kl_to_standard_normal
from genmodels.validation import ConfigError, require_positive_int

OptimizerFactory = Callable[..., torch.optim.Optimizer]
STAGES = ("train", "val", "test")


def mlp(sizes: Sequence[int]) -> nn.Sequential:
    """Linear layers of the given sizes with ReLU between them (none after the last)."""
    layers: list[nn.Module] = []
    for index, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(n_in, n_out))
        if index < len(sizes) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


class Encoder(nn.Module):
    """x (B, 1, S, S) -> mean and log-variance of q(z|x), each (B, latent_dim)."""

    def __init__(self, input_dim: int, hidden_dims: Sequence[int], latent_dim: int) -> None:
        super().__init__()
        self.body = nn.Sequential(mlp([input_dim, *hidden_dims]), nn.ReLU())
        self.mean = nn.Linear(hidden_dims[-1], latent_dim)
        self.logvar = nn.Linear(hidden_dims[-1], latent_dim)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.body(x.flatten(start_dim=1))
        return self.mean(h), self.logvar(h)


class Decoder(nn.Module):
    """z (B, latent_dim) -> Bernoulli logits (B, 1, S, S); the pixel means are their sigmoid."""

    def __init__(self, latent_dim: int, hidden_dims: Sequence[int], image_size: int) -> None:
        super().__init__()
        self.image_size = image_size
        self.net = mlp([latent_dim, *hidden_dims, image_size * image_size])

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z).view(-1, 1, self.image_size, self.image_size)


class VAE(L.LightningModule):
    """VAE with an MLP encoder/decoder (784-500-latent by default, as in the report).

    Args:
        latent_dim: size of z.
        hidden_dims: hidden layer widths of the encoder; the decoder mirrors them.
        image_size: side of the square single-channel input images.
        beta: weight of the KL term in the training loss (1 = the ELBO).
        optimizer: a partial optimizer, called with the parameters (Hydra ``_partial_: true``).
    """

    def __init__(
        self,
        latent_dim: int = 20,
        hidden_dims: Sequence[int] = (500,),
        image_size: int = 28,
        beta: float = 1.0,
        optimizer: OptimizerFactory | None = None,
    ) -> None:
        super().__init__()
        require_positive_int("latent", latent_dim)
        hidden_dims = list(hidden_dims)
        if not hidden_dims or any(not isinstance(h, int) or h <= 0 for h in hidden_dims):
            raise ConfigError(f"model.hidden_dims must be a non-empty list of positive integers, got {hidden_dims}")
        if beta < 0:
            raise ConfigError(f"model.beta must be >= 0, got {beta}")
        self.save_hyperparameters(ignore=["optimizer"], logger=False)
        self.latent_dim, self.beta = latent_dim, beta
        self.optimizer_factory = optimizer or torch.optim.Adam
        self.encoder = Encoder(image_size * image_size, hidden_dims, latent_dim)
        self.decoder = Decoder(latent_dim, list(reversed(hidden_dims)), image_size)
        # -ELBO and its terms per image, averaged over each epoch of each stage.
        self.epoch_means = nn.ModuleDict(
            {f"{stage}_means": EpochMeans([f"{stage}/{t}" for t in ("neg_elbo", "recon", "kl")]) for stage in STAGES}
        )

    def loss_terms(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Per-image reconstruction NLL and KL in nats, each (B,), from one posterior sample."""
        mu, logvar = (t.float() for t in self.encoder(x))  # float32 terms also under bf16/fp16 autocast
        z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
        return {"recon": bernoulli_nll(self.decoder(z).float(), x), "kl": gaussian_kl_to_standard_normal(mu, logvar)}

    def _shared_step(self, batch: tuple[torch.Tensor, torch.Tensor], stage: str) -> dict[str, torch.Tensor]:
        x, _ = batch
        terms = self.loss_terms(x)
        recon, kl = terms["recon"].mean(), terms["kl"].mean()
        self.epoch_means[f"{stage}_means"].update(
            {f"{stage}/neg_elbo": recon + kl, f"{stage}/recon": recon, f"{stage}/kl": kl}, weight=len(x)
        )
        return {"loss": recon + self.beta * kl, "recon": recon.detach(), "kl": kl.detach()}

    def training_step(self, batch, batch_idx: int) -> dict[str, torch.Tensor]:
        outputs = self._shared_step(batch, "train")
        if batch_idx % self.trainer.log_every_n_steps == 0:  # per-step values are only kept this often anyway
            self.log("train/loss", outputs["loss"], prog_bar=True, batch_size=len(batch[0]))
        return outputs

    def validation_step(self, batch, batch_idx: int) -> None:
        self._shared_step(batch, "val")

    def test_step(self, batch, batch_idx: int) -> None:
        self._shared_step(batch, "test")

    def on_train_epoch_end(self) -> None:
        self.log_dict(self.epoch_means["train_means"].compute_and_reset())

    def on_validation_epoch_end(self) -> None:
        self.log_dict(self.epoch_means["val_means"].compute_and_reset())

    def on_test_epoch_end(self) -> None:
        self.log_dict(self.epoch_means["test_means"].compute_and_reset())

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return self.optimizer_factory(self.parameters())

    def networks(self) -> dict[str, nn.Module]:
        """The trainable networks by name (what ``speed.compile`` compiles)."""
        return {"encoder": self.encoder, "decoder": self.decoder}

    # The interface the figure callbacks use: latent_dim, generate, reconstruct, encode_mean.
    @torch.no_grad()
    def generate(self, z: torch.Tensor) -> torch.Tensor:
        """Decoder Bernoulli means in [0, 1], (B, 1, S, S)."""
        return torch.sigmoid(self.decoder(z))

    @torch.no_grad()
    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """Decoder means at the posterior mean of each input."""
        return self.generate(self.encoder(x)[0])

    @torch.no_grad()
    def encode_mean(self, x: torch.Tensor) -> torch.Tensor:
        """Posterior means, (B, latent_dim)."""
        return self.encoder(x)[0]

    @staticmethod
    def to_unit_range(x: torch.Tensor) -> torch.Tensor:
        """Data-space images as [0, 1] pictures (the VAE's data already is)."""
        return x

"""The VAE: an encoder and a decoder, injected by config (``vae_mlp.py``, ``conv_vae.py``), trained on the -ELBO
(or the IWAE bound) with a diagonal Gaussian q(z|x), the prior N(0, I) and independent pixels (``model.likelihood``:
Bernoulli, or a discretized logistic for 8-bit images, ``pixel_likelihoods.py``). The loss and the logged metrics are
explained in docs/models.md."""

from __future__ import annotations

import lightning as L
import torch
from torch import nn
from torch.distributions import Distribution, Independent, Normal, register_kl

from genmodels.errors import ConfigError
from genmodels.metrics.likelihood import elbo_of_draws, elbo_terms, importance_weights, iwae_bound
from genmodels.models.conditioning import batch_labels, check_network_classes
from genmodels.models.epoch_means import EpochMeans
from genmodels.models.networks import describe
from genmodels.models.optimization import OptimizerFactory, SchedulerFactory, learning_rates, optimizer_config
from genmodels.models.pixel_likelihoods import bits_per_dimension, log_likelihood, mean_pictures, pixel_likelihood

STAGES = ("train", "val", "test")


class DiagonalGaussian(Independent):
    """N(mean, diag exp(logvar)) over the last dimension, keeping ``logvar`` for the closed-form KL below; without
    argument checks (they cost time on every step, and the finite-loss guard names non-finite encoder outputs when
    they reach the loss)."""

    def __init__(self, mean: torch.Tensor, logvar: torch.Tensor) -> None:
        super().__init__(Normal(mean, torch.exp(0.5 * logvar), validate_args=False), 1, validate_args=False)
        self.logvar = logvar


@register_kl(DiagonalGaussian, DiagonalGaussian)
def diagonal_gaussian_kl(q: DiagonalGaussian, p: DiagonalGaussian) -> torch.Tensor:
    """KL(q || p) in nats, summed over the last dimension, from the log-variances themselves (torch's Normal-Normal
    formula squares the scales and takes their log): with p = N(0, I), 1/2 (mean^2 + exp(logvar) - 1 - logvar)."""
    log_ratio = q.logvar - p.logvar
    return 0.5 * ((q.mean - p.mean).pow(2) / p.logvar.exp() + log_ratio.exp() - 1.0 - log_ratio).sum(dim=-1)


class VAE(L.LightningModule):
    """An ``encoder`` (images (B, C, S, S) -> mean and log-variance of q(z|x), each (B, latent_dim)) and a
    ``decoder`` (codes (B, latent_dim) -> the ``likelihood``'s parameters, (B, C, S, S) Bernoulli logits or
    (B, 2C, S, S) logistic means and log-scales) trained as a VAE.

    ``beta`` weighs the KL term of the training loss (1: the ELBO); ``iwae_k`` > 1 trains on the IWAE bound L_k
    instead. ``optimizer`` and ``scheduler`` are partials, called with the parameters and with the optimizer
    (``scheduler`` None: a constant rate). With ``num_classes`` both networks also take the labels (B,): a conditional
    VAE (Sohn et al. 2015) of log p(x|y), with q(z|x, y), p(x|z, y) and the prior N(0, I).
    """

    def __init__(
        self,
        encoder: nn.Module,
        decoder: nn.Module,
        latent_dim: int = 20,
        beta: float = 1.0,
        iwae_k: int = 1,
        optimizer: OptimizerFactory | None = None,
        scheduler: SchedulerFactory | None = None,
        num_classes: int | None = None,
        likelihood: str = "bernoulli",
    ) -> None:
        super().__init__()
        self.pixel_likelihood = pixel_likelihood(likelihood)
        if getattr(decoder, "likelihood", "bernoulli") != likelihood:
            raise ConfigError(
                f"model.likelihood={likelihood} but the decoder outputs the parameters of "
                f"{getattr(decoder, 'likelihood', 'bernoulli')}. Fix: model.decoder.likelihood=${{model.likelihood}}"
            )
        check_network_classes(num_classes, {"encoder": encoder, "decoder": decoder})
        for key, value in (("latent", latent_dim), ("model.iwae_k", iwae_k)):
            if type(value) is not int or value < 1:
                raise ConfigError(f"{key} must be a positive integer (1, 2, ...), got {value!r}")
        if beta < 0:
            raise ConfigError(f"model.beta must be >= 0, got {beta}")
        if iwae_k > 1 and beta != 1:
            raise ConfigError(
                f"model.beta={beta} weighs the KL term of the ELBO, which model.iwae_k={iwae_k} replaces by the "
                "IWAE bound: set model.beta=1 with model.iwae_k > 1, or model.iwae_k=1 to train a beta-VAE"
            )
        self.save_hyperparameters(ignore=["encoder", "decoder", "optimizer", "scheduler"], logger=False)
        self.hparams.update(encoder=describe(encoder), decoder=describe(decoder))  # checked by resume, evaluate
        self.latent_dim, self.beta, self.iwae_k = latent_dim, beta, iwae_k
        if num_classes is not None:  # the attribute is the GeneratesConditionally capability
            self.num_classes = num_classes
        self.optimizer_factory, self.scheduler_factory = optimizer, scheduler
        terms = ("neg_elbo", "recon", "kl", "bpd") if self.pixel_likelihood.discrete else ("neg_elbo", "recon", "kl")
        self.epoch_means = nn.ModuleDict(
            {f"{stage}_means": EpochMeans([f"{stage}/{t}" for t in terms]) for stage in STAGES}
        )
        self.objective_means = EpochMeans(["train/neg_iwae_bound"]) if iwae_k > 1 else None
        self.encoder, self.decoder = encoder, decoder

    def loss_terms(self, x: torch.Tensor, k: int = 1, labels: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """Per-image terms in nats, each (B,) float32, from k reparameterized posterior samples per image: ``recon``,
        -log p(x|z) averaged over the samples; ``kl``, closed form; for k > 1 also ``iwae_bound``, L_k of the
        samples (a conditional VAE's given ``labels``)."""
        if k == 1:  # the ELBO needs no importance weights
            terms, extra = elbo_terms(x, self, labels=labels), {}
        else:
            posterior = self.posterior(x, labels)
            draws = importance_weights(x, self, k, posterior, labels=labels)
            terms = elbo_of_draws(posterior, self.prior(), draws.z, draws.log_likelihood)
            extra = {"iwae_bound": iwae_bound(draws.log_weights)}
        return {"recon": -terms.log_likelihood.float(), "kl": terms.kl.float(), **extra}

    def training_loss(self, terms: dict[str, torch.Tensor]) -> torch.Tensor:
        """The batch mean minimised: -L_k when ``terms`` has the IWAE bound, else recon + beta * KL (the -ELBO)."""
        if "iwae_bound" in terms:
            return -terms["iwae_bound"].mean()
        return terms["recon"].mean() + self.beta * terms["kl"].mean()

    def _shared_step(self, batch: tuple[torch.Tensor, torch.Tensor], stage: str) -> dict[str, torch.Tensor]:
        x, labels = batch[0], batch_labels(batch[1], self.hparams.num_classes)  # images in [0, 1], their labels
        terms = self.loss_terms(x, self.iwae_k if stage == "train" else 1, labels)
        recon, kl = terms["recon"].mean(), terms["kl"].mean()
        means = {f"{stage}/neg_elbo": recon + kl, f"{stage}/recon": recon, f"{stage}/kl": kl}
        if self.pixel_likelihood.discrete:  # the -ELBO in bits per pixel value, as the literature reports CIFAR-10
            means[f"{stage}/bpd"] = bits_per_dimension(recon + kl, x[0].numel())
        self.epoch_means[f"{stage}_means"].update(means, weight=len(x))
        loss = self.training_loss(terms)
        if self.objective_means is not None and stage == "train":
            self.objective_means.update({"train/neg_iwae_bound": loss}, weight=len(x))
        return {"loss": loss, "recon": recon.detach(), "kl": kl.detach()}

    def training_step(self, batch, batch_idx: int) -> dict[str, torch.Tensor]:
        outputs = self._shared_step(batch, "train")
        if batch_idx % self.trainer.log_every_n_steps == 0:  # per-step values are only kept this often anyway
            self.log("train/loss", outputs["loss"], prog_bar=True, batch_size=len(batch[0]))
        return outputs

    def validation_step(self, batch, batch_idx: int) -> None:
        self._shared_step(batch, "val")

    def test_step(self, batch, batch_idx: int) -> None:
        self._shared_step(batch, "test")

    def on_train_epoch_start(self) -> None:
        self.log_dict(learning_rates({"": self.trainer.optimizers[0]}))

    def on_train_epoch_end(self) -> None:
        self.log_dict(self.epoch_means["train_means"].compute_and_reset())
        if self.objective_means is not None:
            self.log_dict(self.objective_means.compute_and_reset())

    def on_validation_epoch_end(self) -> None:
        self.log_dict(self.epoch_means["val_means"].compute_and_reset())

    def on_test_epoch_end(self) -> None:
        self.log_dict(self.epoch_means["test_means"].compute_and_reset())

    def configure_optimizers(self) -> dict:
        return optimizer_config(self.parameters(), self.optimizer_factory, self.scheduler_factory)

    def networks(self) -> dict[str, nn.Module]:
        """The trainable networks by name (what ``speed.compile`` compiles)."""
        return {"encoder": self.encoder, "decoder": self.decoder}

    # The likelihood the -ELBO and IWAE need (genmodels.contract.HasLikelihood).
    def prior(self) -> Distribution:
        """p(z) = N(0, I)."""
        zeros = torch.zeros(self.latent_dim, device=self.device)
        return DiagonalGaussian(zeros, zeros)  # mean 0, log-variance 0

    def posterior(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> Distribution:
        """q(z|x) (a conditional VAE's q(z|x, y)): the encoder's diagonal Gaussian, in float32."""
        return DiagonalGaussian(*(t.float() for t in self.encoder(x, labels)))  # float32 terms also under autocast

    def log_likelihood(self, x: torch.Tensor, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """log p(x|z) (a conditional VAE's log p(x|z, y)) under the decoder's independent pixels (``likelihood``),
        summed over pixels: (B,) float32."""
        return log_likelihood(self.pixel_likelihood.name, self.decoder(z, labels), x)

    # What the figure callbacks use (genmodels.contract: GeneratesImages, ReconstructsImages, EncodesImages).
    @torch.no_grad()
    def generate(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """The decoder's means in [0, 1], (B, C, H, W) (a conditional VAE's of the classes ``labels``)."""
        return mean_pictures(self.pixel_likelihood.name, self.decoder(z, labels))

    @torch.no_grad()
    def reconstruct(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """Decoder means at the posterior mean of each input (a conditional VAE's given its label)."""
        return self.generate(self.encoder(x, labels)[0], labels)

    @torch.no_grad()
    def encode_mean(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """Posterior means, (B, latent_dim) (a conditional VAE's given the labels)."""
        return self.encoder(x, labels)[0]

    @staticmethod
    def to_unit_range(x: torch.Tensor) -> torch.Tensor:
        """Data-space images as [0, 1] pictures (a Bernoulli VAE's data already is)."""
        return x

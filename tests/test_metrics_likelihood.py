"""The IWAE estimate on a model with a closed-form log p(x), and its ordering against the ELBO on a VAE."""

from __future__ import annotations

import math
import os
from pathlib import Path

import pytest
import torch
from torch.distributions import MultivariateNormal, Normal

from genmodels.data.idx import read_idx
from genmodels.data.provision import TRAIN_IMAGES, raw_dir
from genmodels.metrics.likelihood import (
    bernoulli_log_likelihood,
    dataset_iwae_nll,
    dataset_negative_elbo,
    diagonal_gaussian_log_density,
    elbo,
    iwae_log_likelihood,
    mean_and_standard_error,
    standard_normal_log_density,
)
from genmodels.models.losses import bernoulli_nll
from genmodels.models.vae import VAE

DATA_DIR = Path(os.environ.get("GENMODELS_DATA_DIR", Path(__file__).resolve().parents[1] / "data"))


class LinearGaussian:
    """z ~ N(0, I_d), x | z ~ N(W z + b, s^2 I_D), so p(x) = N(b, W W^T + s^2 I) exactly.

    ``encoder`` is a deliberately imperfect diagonal Gaussian q(z|x): the exact posterior mean shrunk
    by 10% and 1.3 times the exact posterior's marginal variances (no correlations).
    """

    def __init__(self, latent: int = 2, dim: int = 5, noise: float = 0.5, seed: int = 0) -> None:
        generator = torch.Generator().manual_seed(seed)
        self.W = torch.randn(dim, latent, generator=generator, dtype=torch.float64)
        self.b = torch.randn(dim, generator=generator, dtype=torch.float64)
        self.noise = noise
        self.marginal = MultivariateNormal(self.b, self.W @ self.W.T + noise**2 * torch.eye(dim, dtype=torch.float64))
        precision = torch.eye(latent, dtype=torch.float64) + self.W.T @ self.W / noise**2
        self.posterior_cov = torch.linalg.inv(precision)

    def sample(self, count: int, seed: int) -> torch.Tensor:
        generator = torch.Generator().manual_seed(seed)
        z = torch.randn(count, self.W.shape[1], generator=generator, dtype=torch.float64)
        return (
            z @ self.W.T
            + self.b
            + self.noise * torch.randn(count, len(self.b), generator=generator, dtype=torch.float64)
        )

    def encoder(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        exact_mean = (x - self.b) @ self.W @ self.posterior_cov.T / self.noise**2
        logvar = (1.3 * torch.diag(self.posterior_cov)).log().expand_as(exact_mean)
        return 0.9 * exact_mean, logvar

    def exact_posterior(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Only valid as a diagonal q when the posterior covariance is diagonal (latent = 1)."""
        mean = (x - self.b) @ self.W @ self.posterior_cov.T / self.noise**2
        return mean, torch.diag(self.posterior_cov).log().expand_as(mean)

    def log_likelihood(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        return Normal(z @ self.W.T + self.b, self.noise).log_prob(x).sum(dim=-1)


def test_densities_match_torch_distributions():
    generator = torch.Generator().manual_seed(0)
    z, mu, logvar = (torch.randn(7, 3, generator=generator, dtype=torch.float64) for _ in range(3))
    expected = Normal(mu, (0.5 * logvar).exp()).log_prob(z).sum(-1)
    torch.testing.assert_close(diagonal_gaussian_log_density(z, mu, logvar), expected)
    torch.testing.assert_close(standard_normal_log_density(z), Normal(0.0, 1.0).log_prob(z).sum(-1))


def test_iwae_converges_to_exact_log_likelihood_with_shrinking_error():
    model = LinearGaussian()
    x = model.sample(200, seed=1)
    exact = model.marginal.log_prob(x)
    mean_abs_errors = {}
    for k in (1, 10, 100, 1000, 10000):
        estimate = iwae_log_likelihood(
            x, model.encoder, model.log_likelihood, k, chunk_size=997, generator=torch.Generator().manual_seed(2)
        )
        assert estimate.dtype == torch.float64 and estimate.shape == (200,)
        error = exact - estimate
        mean_abs_errors[k] = error.abs().mean().item()
        # a lower bound on average (up to Monte Carlo noise) ...
        assert error.mean().item() > -3 * error.std().item() / math.sqrt(len(error)) - 1e-3
        # ... within a tolerance that shrinks like 1/sqrt(k)
        assert mean_abs_errors[k] < 1.0 / math.sqrt(k), (k, mean_abs_errors)
    assert mean_abs_errors[10000] < 0.01
    assert mean_abs_errors[10000] < mean_abs_errors[100] < mean_abs_errors[1]


def test_iwae_is_exact_for_the_exact_posterior():
    # With q equal to the true posterior every importance weight equals p(x): exact for any k.
    model = LinearGaussian(latent=1, dim=4, seed=3)
    x = model.sample(20, seed=4)
    for k in (1, 7):
        estimate = iwae_log_likelihood(x, model.exact_posterior, model.log_likelihood, k)
        torch.testing.assert_close(estimate, model.marginal.log_prob(x))


def test_chunking_does_not_change_the_estimate():
    # One chunk of 300 draws consumes the random stream exactly like three chunks of 100.
    model = LinearGaussian()
    x = model.sample(10, seed=5)
    estimates = [
        iwae_log_likelihood(
            x, model.encoder, model.log_likelihood, 300, chunk_size=size, generator=torch.Generator().manual_seed(0)
        )
        for size in (300, 100)
    ]
    torch.testing.assert_close(*estimates)


def test_elbo_matches_the_exact_gap_for_linear_gaussian():
    # log p(x) - ELBO = KL(q || posterior) >= 0; with many samples the estimate is close to it.
    model = LinearGaussian(latent=1, dim=3, seed=6)
    x = model.sample(50, seed=7)
    exact = model.marginal.log_prob(x)
    at_posterior = elbo(x, model.exact_posterior, model.log_likelihood, 2000, torch.Generator().manual_seed(1))
    torch.testing.assert_close(at_posterior, exact, atol=0.05, rtol=0)
    off_posterior = elbo(x, model.encoder, model.log_likelihood, 2000, torch.Generator().manual_seed(1))
    assert (exact - off_posterior).mean() > 0.01


def mnist_slice(count: int) -> torch.Tensor:
    path = raw_dir(DATA_DIR, "mnist") / TRAIN_IMAGES
    if not path.exists():
        pytest.skip(f"MNIST is not at {path} (set GENMODELS_DATA_DIR or run `make data`)")
    return read_idx(path)[:count].unsqueeze(1).float().div(255.0)


@pytest.fixture(scope="module")
def tiny_vae() -> tuple[VAE, torch.Tensor]:
    """A small VAE trained for 300 steps on 1,000 MNIST images (a few seconds on a CPU)."""
    images = mnist_slice(1200)
    train, held_out = images[:1000], images[1000:]
    torch.manual_seed(0)
    model = VAE(latent_dim=4, hidden_dims=[128], image_size=28)
    optimizer = torch.optim.Adam(model.parameters(), lr=2e-3)
    generator = torch.Generator().manual_seed(0)
    for _ in range(300):
        batch = train[torch.randint(0, len(train), (64,), generator=generator)]
        terms = model.loss_terms(batch)
        loss = (terms["recon"] + terms["kl"]).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return model.eval(), held_out


def test_tiny_vae_iwae_bounds_are_ordered(tiny_vae):
    model, x = tiny_vae
    log_likelihood = bernoulli_log_likelihood(model.decoder)
    neg_elbo = dataset_negative_elbo(
        x, model.encoder, log_likelihood, num_samples=20, batch_size=64, generator=torch.Generator().manual_seed(0)
    )
    nll = {
        k: dataset_iwae_nll(
            x, model.encoder, log_likelihood, k=k, batch_size=50, generator=torch.Generator().manual_seed(k)
        )
        for k in (1, 10, 100, 1000)
    }
    mean_elbo, sem_elbo = mean_and_standard_error(neg_elbo)
    means = {k: values.mean().item() for k, values in nll.items()}
    # k = 1 is an unbiased estimate of the ELBO itself
    assert means[1] == pytest.approx(mean_elbo, abs=3 * nll[1].std().item() / math.sqrt(len(x)) + 0.5)
    # more samples never loosen the bound (on average); every k > 1 is tighter than the ELBO
    assert means[1000] <= means[100] + 0.05 <= means[10] + 0.1 <= means[1] + 0.15
    assert means[1000] < mean_elbo - 1.0
    assert (nll[1000] <= neg_elbo + 1e-6).float().mean() > 0.95
    assert sem_elbo > 0


def test_bernoulli_log_likelihood_is_minus_the_training_loss(tiny_vae):
    model, x = tiny_vae
    z = torch.randn(len(x), model.latent_dim)
    torch.testing.assert_close(bernoulli_log_likelihood(model.decoder)(x, z), -bernoulli_nll(model.decoder(z), x))


def test_argument_checks():
    model = LinearGaussian()
    x = model.sample(2, seed=0)
    with pytest.raises(ValueError, match="k must be"):
        iwae_log_likelihood(x, model.encoder, model.log_likelihood, 0)
    with pytest.raises(ValueError, match="num_samples"):
        elbo(x, model.encoder, model.log_likelihood, 0)

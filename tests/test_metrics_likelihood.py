"""The IWAE estimate on a model with a closed-form log p(x), its ordering against the ELBO on a VAE, and
a regression value of the VAE's IWAE and ELBO."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from torch.distributions import Bernoulli, Independent, MultivariateNormal, Normal

from genmodels.contract import HasLikelihood
from genmodels.data.idx import read_idx
from genmodels.data.provision import TRAIN_IMAGES, raw_dir
from genmodels.metrics.likelihood import (
    dataset_iwae_nll,
    dataset_negative_elbo,
    draw,
    elbo,
    importance_weights,
    iwae_bound,
    iwae_log_likelihood,
    mean_and_standard_error,
)
from genmodels.models.conv_vae import ConvDecoder, ConvEncoder
from genmodels.models.losses import bernoulli_nll
from genmodels.models.vae import VAE
from tests.helpers import mlp_vae


class LinearGaussian:
    """z ~ N(0, I_d), x | z ~ N(W z + b, s^2 I_D), so p(x) = N(b, W W^T + s^2 I) exactly.

    ``posterior`` is a deliberately imperfect diagonal Gaussian q(z|x): the exact posterior mean shrunk
    by 10% and 1.3 times the exact posterior's marginal variances (no correlations). With ``exact``,
    it is the exact posterior, which is diagonal only for latent = 1.
    """

    def __init__(self, latent: int = 2, dim: int = 5, noise: float = 0.5, seed: int = 0, exact: bool = False) -> None:
        self.exact = exact
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
        noise = torch.randn(count, len(self.b), generator=generator, dtype=torch.float64)
        return z @ self.W.T + self.b + self.noise * noise

    def prior(self) -> Independent:
        zeros = torch.zeros(self.W.shape[1], dtype=torch.float64)
        return Independent(Normal(zeros, torch.ones_like(zeros)), 1)

    def posterior(self, x: torch.Tensor) -> Independent:
        mean = (x - self.b) @ self.W @ self.posterior_cov.T / self.noise**2
        variance = torch.diag(self.posterior_cov).expand_as(mean)
        if not self.exact:
            mean, variance = 0.9 * mean, 1.3 * variance
        return Independent(Normal(mean, variance.sqrt()), 1)

    def log_likelihood(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        return Normal(z @ self.W.T + self.b, self.noise).log_prob(x).sum(dim=-1)


def test_draw_follows_the_generator_and_leaves_the_global_one_alone():
    distribution = Normal(torch.zeros(3), torch.ones(3))
    torch.manual_seed(5)
    expected_global = torch.rand(2)
    torch.manual_seed(5)
    first = draw(distribution, (4,), torch.Generator().manual_seed(0))
    assert torch.equal(torch.rand(2), expected_global)  # the global stream was not consumed
    generator = torch.Generator().manual_seed(0)
    torch.testing.assert_close(draw(distribution, (4,), generator), first)
    assert not torch.equal(draw(distribution, (4,), generator), first)  # the generator moved on
    torch.testing.assert_close(first, torch.randn(4, 3, generator=torch.Generator().manual_seed(0)))


def test_iwae_converges_to_exact_log_likelihood_with_shrinking_error():
    model = LinearGaussian()
    assert isinstance(model, HasLikelihood) and not isinstance(torch.nn.Linear(2, 2), HasLikelihood)
    x = model.sample(200, seed=1)
    exact = model.marginal.log_prob(x)
    mean_abs_errors = {}
    for k in (1, 10, 100, 1000, 10000):
        estimate = iwae_log_likelihood(x, model, k, chunk_size=997, generator=torch.Generator().manual_seed(2))
        assert estimate.dtype == torch.float64 and estimate.shape == (200,)
        error = exact - estimate
        mean_abs_errors[k] = error.abs().mean().item()
        # a lower bound on average (up to Monte Carlo noise) ...
        assert error.mean().item() > -3 * error.std().item() / math.sqrt(len(error)) - 1e-3
        # ... within a tolerance that shrinks like 1/sqrt(k)
        assert mean_abs_errors[k] < 1.0 / math.sqrt(k), (k, mean_abs_errors)
    assert mean_abs_errors[10000] < 0.01
    assert mean_abs_errors[10000] < mean_abs_errors[100] < mean_abs_errors[1]
    # one chunk of 300 draws consumes the random stream exactly like three chunks of 100
    one, three = (
        iwae_log_likelihood(x[:10], model, 300, size, torch.Generator().manual_seed(0)) for size in (300, 100)
    )
    torch.testing.assert_close(one, three)


def reference_iwae(x: torch.Tensor, model: VAE, k: int, seed: int) -> torch.Tensor:
    """L_k of each image computed on its own with torch.distributions, from the same standard-normal draws."""
    mean, logvar = model.encoder(x)
    noise = torch.randn(k, *mean.shape, generator=torch.Generator().manual_seed(seed))  # (k, B, latent)
    bounds = []
    for i in range(len(x)):
        q = Independent(Normal(mean[i], (0.5 * logvar[i]).exp()), 1)
        z = q.mean + q.stddev * noise[:, i]  # (k, latent)
        log_px_z = Independent(Bernoulli(logits=model.decoder(z)), 3).log_prob(x[i].expand(k, *x.shape[1:]))
        log_pz = Independent(Normal(torch.zeros_like(z), torch.ones_like(z)), 1).log_prob(z)
        log_weights = (log_px_z + log_pz - q.log_prob(z)).double()
        bounds.append(torch.logsumexp(log_weights, 0) - math.log(k))
    return torch.stack(bounds)


@pytest.mark.parametrize("networks", ["mlp", "conv"])
def test_iwae_equals_a_per_image_computation_with_torch_distributions(networks):
    torch.manual_seed(0)
    model = mlp_vae(8, (32,)) if networks == "mlp" else VAE(ConvEncoder(8, (4, 8)), ConvDecoder(8, (4, 8)), 8)
    x = torch.rand(3, 1, 28, 28, generator=torch.Generator().manual_seed(1)).bernoulli()
    with torch.no_grad():
        expected = reference_iwae(x, model.eval(), k=50, seed=2)
        for chunk_size in (None, 16):  # one chunk per image, and chunks that do not divide k
            estimate = iwae_log_likelihood(x, model, 50, chunk_size, torch.Generator().manual_seed(2))
            torch.testing.assert_close(estimate, expected, rtol=1e-6, atol=1e-4)


def test_iwae_and_every_weight_are_exact_for_the_exact_posterior():
    # With q equal to the true posterior every importance weight equals p(x): exact for any k.
    model = LinearGaussian(latent=1, dim=4, seed=3, exact=True)
    x = model.sample(6, seed=4)
    for k in (1, 7):
        torch.testing.assert_close(iwae_log_likelihood(x, model, k), model.marginal.log_prob(x))
    draws = importance_weights(x, model, 9, generator=torch.Generator().manual_seed(0))
    assert draws.log_weights.shape == draws.log_likelihood.shape == (9, 6)
    torch.testing.assert_close(draws.log_weights, model.marginal.log_prob(x).expand(9, 6))
    assert draws.log_likelihood.std(dim=0).min() > 0  # each sample's likelihood differs; the weights do not


def test_iwae_bound_is_the_log_of_the_mean_weight():
    log_weights = torch.tensor([[-1.0, 2.0], [-3.0, 2.0], [0.5, 2.0]], dtype=torch.float64)
    expected = log_weights.exp().mean(dim=0).log()
    torch.testing.assert_close(iwae_bound(log_weights), expected)
    torch.testing.assert_close(iwae_bound(log_weights[:1]), log_weights[0])  # k = 1: the weight itself
    far = log_weights - 1000.0  # exp underflows to 0; the log-sum-exp does not
    torch.testing.assert_close(iwae_bound(far), expected - 1000.0)


def test_elbo_matches_the_exact_gap_for_linear_gaussian():
    # log p(x) - ELBO = KL(q || posterior) >= 0; with many samples the estimate is close to it.
    exact_q, model = LinearGaussian(latent=1, dim=3, seed=6, exact=True), LinearGaussian(latent=1, dim=3, seed=6)
    x = model.sample(50, seed=7)
    exact = model.marginal.log_prob(x)
    torch.testing.assert_close(elbo(x, exact_q, 2000, torch.Generator().manual_seed(1)), exact, atol=0.05, rtol=0)
    assert (exact - elbo(x, model, 2000, torch.Generator().manual_seed(1))).mean() > 0.01


@pytest.fixture(scope="module")
def tiny_vae(mnist_dir: Path) -> tuple[VAE, torch.Tensor]:
    """A small VAE trained for 300 steps on 1,000 MNIST images (a few seconds on a CPU)."""
    images = read_idx(raw_dir(mnist_dir, "mnist") / TRAIN_IMAGES)[:1200].unsqueeze(1).float().div(255.0)
    train, held_out = images[:1000], images[1000:]
    torch.manual_seed(0)
    model = mlp_vae(latent_dim=4, hidden_dims=[128])
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
    generator = torch.Generator().manual_seed(0)
    neg_elbo = dataset_negative_elbo(x, model, num_samples=20, batch_size=64, generator=generator)
    nll = {
        k: dataset_iwae_nll(x, model, k=k, batch_size=50, generator=torch.Generator().manual_seed(k))
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


def test_vae_log_likelihood_is_minus_the_bernoulli_reconstruction_loss(tiny_vae):
    model, x = tiny_vae
    z = torch.randn(len(x), model.latent_dim)
    torch.testing.assert_close(model.log_likelihood(x, z), -bernoulli_nll(model.decoder(z), x))
    mu, logvar = model.encoder(x)
    posterior = model.posterior(x)
    torch.testing.assert_close(posterior.mean, mu)
    torch.testing.assert_close(posterior.variance, logvar.exp())
    assert posterior.batch_shape == (len(x),) and posterior.event_shape == (model.latent_dim,)
    torch.testing.assert_close(model.prior().log_prob(z), Normal(0.0, 1.0).log_prob(z).sum(-1))


# Computed with the code before the likelihood interface existed (the bounds took the encoder and a Bernoulli
# log-likelihood built from the decoder): a 4-d VAE (seed 0) after 5 Adam steps on one batch of 6 uniform
# images (seed 1); IWAE with k = 100 in chunks of 30 (generator seed 2), ELBO with 3 draws (seed 3). Nats.
IWAE_BEFORE = [-527.505702, -525.415324, -493.770269, -536.162897, -533.925974, -534.680496]
ELBO_BEFORE = [-532.937371, -528.864690, -506.808732, -537.325350, -539.630752, -536.341403]


def test_vae_bounds_match_the_values_before_the_likelihood_interface():
    torch.manual_seed(0)
    model = mlp_vae(latent_dim=4, hidden_dims=[32])
    x = torch.rand(6, 1, 28, 28, generator=torch.Generator().manual_seed(1))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(5):
        terms = model.loss_terms(x)
        loss = (terms["recon"] + terms["kl"]).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()
    iwae = iwae_log_likelihood(x, model, k=100, chunk_size=30, generator=torch.Generator().manual_seed(2))
    bound = elbo(x, model, num_samples=3, generator=torch.Generator().manual_seed(3))
    # within 1e-3 nats: float32 sums differ in their last bits with the number of threads
    torch.testing.assert_close(iwae, torch.tensor(IWAE_BEFORE, dtype=torch.float64), atol=1e-3, rtol=0)
    torch.testing.assert_close(bound, torch.tensor(ELBO_BEFORE, dtype=torch.float64), atol=1e-3, rtol=0)


def test_argument_checks():
    model = LinearGaussian()
    with pytest.raises(ValueError, match="k must be"):
        iwae_log_likelihood(model.sample(2, seed=0), model, 0)
    with pytest.raises(ValueError, match="num_samples"):
        elbo(model.sample(2, seed=0), model, 0)

"""The decoder's pixel likelihoods: the discretized logistic against scipy's logistic CDF, a proper distribution over
the 256 levels, the VAE trained with it (bits per dimension), and the Bernoulli default left as it was."""

import math

import numpy as np
import pytest
import torch
from scipy.stats import logistic

from genmodels.errors import ConfigError
from genmodels.models.conv_vae import ConvDecoder, ConvEncoder
from genmodels.models.pixel_likelihoods import bits_per_dimension, discretized_logistic_log_prob, log_likelihood
from genmodels.models.vae import VAE
from genmodels.models.vae_mlp import MLPDecoder, MLPEncoder


def scipy_log_prob(mean: np.ndarray, scale: np.ndarray, level: np.ndarray) -> np.ndarray:
    """log P(level) by the CDF difference across the level's bin, -inf and +inf at the two ends."""
    upper = np.where(level == 255, np.inf, (level + 0.5) / 255)
    lower = np.where(level == 0, -np.inf, (level - 0.5) / 255)
    return np.log(logistic.cdf(upper, loc=mean, scale=scale) - logistic.cdf(lower, loc=mean, scale=scale))


def test_discretized_logistic_matches_the_cdf_difference():
    generator = torch.Generator().manual_seed(0)
    mean = torch.rand(4, 3, 5, 5, generator=generator, dtype=torch.float64)
    log_scale = torch.empty_like(mean).uniform_(-3.0, -1.0, generator=generator)
    levels = torch.randint(0, 256, mean.shape, generator=generator)
    levels[0, 0, 0, :2] = torch.tensor([0, 255])  # both open edge bins
    measured = discretized_logistic_log_prob(mean, log_scale, levels.double() / 255)
    expected = scipy_log_prob(mean.numpy(), log_scale.exp().numpy(), levels.numpy())
    exact = expected > np.log(1e-4)  # bins of smaller mass take the density at their centre (tested below)
    assert exact.mean() > 0.8 and exact[0, 0, 0, :2].all()
    np.testing.assert_allclose(measured.numpy()[exact], expected[exact], rtol=1e-6)


@pytest.mark.parametrize("log_scale", [-7.0, -3.0, 0.0, 2.0])
def test_the_256_bins_hold_all_the_probability(log_scale):
    levels = torch.arange(256, dtype=torch.float32) / 255
    for mean in (-0.3, 0.0, 0.41, 1.0, 1.2):
        log_p = discretized_logistic_log_prob(torch.tensor(mean), torch.tensor(log_scale), levels)
        assert log_p.exp().sum().item() == pytest.approx(1.0, abs=1e-4)


def test_a_vanishing_bin_mass_is_the_density_times_the_bin_width():
    mean, scale, level = 0.5, math.exp(-5.0), 0.6  # 15 scales from the mean: 2.1e-7 of the mass
    measured = discretized_logistic_log_prob(torch.tensor(mean), torch.tensor(-5.0), torch.tensor([level]))
    centre = round(level * 255) / 255
    exact = math.log(logistic.sf(centre - 0.5 / 255, mean, scale) - logistic.sf(centre + 0.5 / 255, mean, scale))
    assert measured.item() == pytest.approx(logistic.logpdf(centre, mean, scale) + math.log(1 / 255), rel=1e-5)
    assert measured.item() == pytest.approx(exact, rel=1e-2)
    far = discretized_logistic_log_prob(torch.tensor(0.9), torch.tensor(-7.0), torch.tensor([0.2]))
    assert torch.isfinite(far).all() and far.item() < -100


def test_the_vae_with_the_discretized_logistic_trains_and_reports_bits_per_dimension():
    torch.manual_seed(0)
    encoder = ConvEncoder(4, [8, 16], image_size=8, channels=3)
    decoder = ConvDecoder(4, [8, 16], image_size=8, channels=3, likelihood="discretized_logistic")
    model = VAE(encoder, decoder, latent_dim=4, likelihood="discretized_logistic")
    x = torch.randint(0, 256, (6, 3, 8, 8)).float() / 255
    z = torch.randn(6, 4)
    outputs = decoder(z)
    assert outputs.shape == (6, 6, 8, 8) and model.generate(z).shape == (6, 3, 8, 8)
    mean, log_scale = outputs.chunk(2, dim=1)
    expected = discretized_logistic_log_prob(mean, log_scale.clamp(min=-7.0), x).flatten(1).sum(1)
    torch.testing.assert_close(model.log_likelihood(x, z), expected)
    loss = model.training_loss(model.loss_terms(x))
    loss.backward()
    assert torch.isfinite(loss) and decoder.net[0].weight.grad is not None
    assert bits_per_dimension(loss.item(), 3 * 8 * 8) == pytest.approx(loss.item() / (192 * math.log(2)))


def test_bernoulli_is_the_default_and_a_mismatched_decoder_is_refused():
    decoder = MLPDecoder(2, [16], image_size=4)
    model = VAE(MLPEncoder(2, [16], image_size=4), decoder, latent_dim=2)
    z, x = torch.randn(3, 2), torch.rand(3, 1, 4, 4)
    expected = -torch.nn.functional.binary_cross_entropy_with_logits(decoder(z), x, reduction="none").sum((1, 2, 3))
    torch.testing.assert_close(model.log_likelihood(x, z), expected)
    torch.testing.assert_close(log_likelihood("bernoulli", decoder(z), x), expected)
    with pytest.raises(ConfigError, match="model.decoder.likelihood"):
        VAE(MLPEncoder(2, [16], image_size=4), decoder, latent_dim=2, likelihood="discretized_logistic")
    with pytest.raises(ConfigError, match="model.likelihood must be one of"):
        MLPDecoder(2, [16], image_size=4, likelihood="gaussian")

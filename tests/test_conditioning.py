"""Class-conditional networks and models (model.num_classes): shapes, the label's effect, the projection
discriminator's closed form, the conditional ELBO against torch.distributions, the refusals."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.distributions import Bernoulli, Normal, kl_divergence

from genmodels.contract import GeneratesConditionally, GeneratesImages
from genmodels.errors import ConfigError
from genmodels.metrics.likelihood import elbo_terms, importance_weights
from genmodels.models import conv_vae, dcgan, gan_mlp, lean_gan, vae_mlp
from genmodels.models.conditioning import check_data_classes
from genmodels.models.gan import GAN
from genmodels.models.vae import VAE

K = 10
GANS = {
    "lean": (lean_gan.LeanGenerator, lean_gan.LeanDiscriminator, {"image_size": 28, "width": 4, "hidden": 16}, 28),
    "dcgan": (dcgan.Generator, dcgan.Discriminator, {"image_size": 32, "width": 4}, 32),
    "mlp": (gan_mlp.MLPGenerator, gan_mlp.MLPDiscriminator, {"image_size": 28, "hidden_dims": [16, 8]}, 28),
}
VAES = {
    "mlp": (vae_mlp.MLPEncoder, vae_mlp.MLPDecoder, {"hidden_dims": [16]}),
    "conv": (conv_vae.ConvEncoder, conv_vae.ConvDecoder, {"widths": [4, 8]}),
}


def conditional_gan(name: str, latent_dim: int = 6) -> GAN:
    generator, discriminator, options, _ = GANS[name]
    return GAN(
        generator(latent_dim=latent_dim, num_classes=K, **options),
        discriminator(num_classes=K, **options),
        latent_dim,
        num_classes=K,
    )


def conditional_vae(name: str, latent_dim: int = 3) -> VAE:
    encoder, decoder, options = VAES[name]
    return VAE(
        encoder(latent_dim, num_classes=K, **options), decoder(latent_dim, num_classes=K, **options), latent_dim,
        num_classes=K,
    )  # fmt: skip


@pytest.mark.parametrize("name", GANS)
def test_a_conditional_gan_draws_each_class_differently(name):
    torch.manual_seed(0)
    model = conditional_gan(name).eval()
    side = GANS[name][3]
    assert isinstance(model, GeneratesConditionally) and model.num_classes == K
    z = torch.randn(4, 6)
    threes, sevens = model.generate(z, torch.full((4,), 3)), model.generate(z, torch.full((4,), 7))
    assert threes.shape == (4, 1, side, side) and 0 <= threes.min() and threes.max() <= 1
    assert not torch.allclose(threes, sevens)

    x = torch.rand(4, 1, side, side) * 2 - 1
    nn.init.normal_(model.discriminator.projection.weight)  # zero at first: the unconditional discriminator
    scores = model.discriminator(x, torch.full((4,), 3))
    assert scores.shape == (4,) and scores.dtype == torch.float32
    assert not torch.allclose(scores, model.discriminator(x, torch.full((4,), 7)))


@pytest.mark.parametrize("name", GANS)
def test_an_unconditional_gan_keeps_its_networks_and_capabilities(name):
    generator, discriminator, options, _ = GANS[name]
    model = GAN(generator(latent_dim=6, **options), discriminator(**options), 6)
    assert isinstance(model, GeneratesImages) and not isinstance(model, GeneratesConditionally)
    assert not any("projection" in key for key in model.state_dict())
    with pytest.raises(ValueError, match="got labels"):
        model.generator(torch.randn(2, 6), torch.tensor([1, 2]))


def test_the_projection_discriminator_is_its_closed_form():
    """logit = psi(phi(x)) + <embed(y), phi(x)> on a one-hidden-layer discriminator, written out by hand."""
    torch.manual_seed(1)
    network = gan_mlp.MLPDiscriminator(image_size=2, hidden_dims=[3], num_classes=4)
    nn.init.normal_(network.projection.weight)
    hidden, head = network.net[0], network.net[2]
    x, y = torch.randn(5, 1, 2, 2), torch.tensor([0, 1, 2, 3, 1])
    phi = F.leaky_relu(x.flatten(1) @ hidden.weight.T + hidden.bias, 0.2)  # (5, 3)
    expected = phi @ head.weight[0] + head.bias[0] + (network.projection.weight[y] * phi).sum(dim=1)
    torch.testing.assert_close(network(x, y), expected)


@pytest.mark.parametrize("name", VAES)
def test_the_conditional_elbo_is_that_of_torch_distributions(name):
    """-ELBO of log p(x|y): q(z|x, y), p(z) = N(0, I) and Bernoulli p(x|z, y), from the same draws."""
    torch.manual_seed(2)
    model = conditional_vae(name)
    x, y = torch.rand(3, 1, 28, 28).bernoulli(), torch.tensor([0, 4, 9])
    draws = importance_weights(x, model, 4, generator=torch.Generator().manual_seed(0), labels=y)

    mean, logvar = model.encoder(x, y)
    q, p = Normal(mean, (0.5 * logvar).exp()), Normal(torch.zeros(3), torch.ones(3))
    log_px = torch.stack([Bernoulli(logits=model.decoder(z, y)).log_prob(x).sum(dim=(1, 2, 3)) for z in draws.z])
    expected = log_px + p.log_prob(draws.z).sum(-1) - q.log_prob(draws.z).sum(-1)
    torch.testing.assert_close(draws.log_weights, expected, rtol=1e-5, atol=1e-4)
    torch.testing.assert_close(draws.log_likelihood, log_px, rtol=1e-5, atol=1e-4)

    terms = elbo_terms(x, model, labels=y)
    torch.testing.assert_close(terms.kl, kl_divergence(q, p).sum(-1).double(), rtol=1e-5, atol=1e-5)
    other = elbo_terms(x, model, labels=torch.tensor([1, 1, 1]))  # the label enters the bound
    assert not torch.allclose(terms.kl, other.kl)


@pytest.mark.parametrize("name", VAES)
def test_a_cvae_decodes_one_code_under_each_label(name):
    torch.manual_seed(3)
    model = conditional_vae(name).eval()
    z = torch.randn(1, 3).repeat(K, 1)
    pictures = model.generate(z, torch.arange(K))
    assert pictures.shape == (K, 1, 28, 28)
    assert len({tuple(row.flatten()[:50].tolist()) for row in pictures}) == K
    x, y = torch.rand(2, 1, 28, 28), torch.tensor([3, 3])
    assert model.reconstruct(x, y).shape == (2, 1, 28, 28) and model.encode_mean(x, y).shape == (2, 3)
    loss = model.training_loss(model.loss_terms(x, 1, y))
    loss.backward()
    assert all(p.grad is not None for p in model.parameters())


def test_networks_of_another_number_of_classes_are_refused():
    with pytest.raises(ConfigError, match=r"model.generator.num_classes=None but model.num_classes=10"):
        GAN(lean_gan.LeanGenerator(6), lean_gan.LeanDiscriminator(num_classes=10), 6, num_classes=10)
    with pytest.raises(ConfigError, match=r"model.num_classes must be null \(unconditional\) or an integer >= 2"):
        vae_mlp.MLPEncoder(num_classes=1)


@pytest.mark.parametrize(
    ("datamodule", "message"),
    [
        (SimpleNamespace(dataset="mnist"), "model.num_classes=7, but mnist has 10 classes. Fix: model.num_classes=10."),
        (
            SimpleNamespace(dataset="folder", num_classes=None),
            "model.num_classes=7 needs class labels, and data folder has none. Fix: model.num_classes=null.",
        ),
    ],
)
def test_the_data_must_have_the_models_classes(datamodule, message):
    with pytest.raises(ConfigError) as caught:
        check_data_classes(SimpleNamespace(num_classes=7), datamodule)
    assert str(caught.value) == message
    check_data_classes(SimpleNamespace(), datamodule)  # an unconditional model needs no labels
    check_data_classes(SimpleNamespace(num_classes=10), SimpleNamespace(dataset="fashion_mnist"))

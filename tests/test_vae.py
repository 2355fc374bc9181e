from types import SimpleNamespace

import pytest
import torch
from torch.distributions import Normal, kl_divergence

from genmodels.callbacks.base import figure_subject
from genmodels.data import MNISTDataModule
from genmodels.errors import ConfigError
from genmodels.metrics.likelihood import elbo, iwae_log_likelihood
from genmodels.models.conv_vae import ConvDecoder, ConvEncoder
from genmodels.models.vae import VAE, DiagonalGaussian
from genmodels.models.vae_mlp import MLPDecoder, MLPEncoder
from genmodels.runs.checkpoints import CheckpointError, check_same_model
from tests.helpers import mlp_vae


def test_shapes_and_architecture():
    model = mlp_vae(latent_dim=3, hidden_dims=[500])
    linears = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [(784, 500), (500, 3), (500, 3), (3, 500), (500, 784)]
    x = torch.rand(4, 1, 28, 28)
    terms = model.loss_terms(x)
    assert terms["recon"].shape == (4,) and terms["kl"].shape == (4,)
    assert model.generate(torch.randn(6, 3)).shape == (6, 1, 28, 28)
    assert model.reconstruct(x).shape == x.shape and model.encode_mean(x).shape == (4, 3)


def test_the_kl_of_two_diagonal_gaussians_matches_torch_distributions_also_far_from_the_prior():
    torch.manual_seed(0)
    mu, logvar, mu_p, logvar_p = torch.randn(16, 7) * 2, torch.randn(16, 7), torch.randn(7), torch.randn(7)
    expected = kl_divergence(Normal(mu, torch.exp(0.5 * logvar)), Normal(mu_p, torch.exp(0.5 * logvar_p))).sum(-1)
    kl = kl_divergence(DiagonalGaussian(mu, logvar), DiagonalGaussian(mu_p, logvar_p))  # the closed form registered
    torch.testing.assert_close(kl, expected)
    # The report's question 1.5: q = N(1000, 1/4) against N(0, 1), here in two latent dimensions.
    mu = torch.tensor([[1000.0, -1000.0]], dtype=torch.float64)
    variance = torch.full_like(mu, 0.25)
    expected = kl_divergence(Normal(mu, variance.sqrt()), Normal(0.0, 1.0)).sum(-1)
    kl = kl_divergence(DiagonalGaussian(mu, variance.log()), DiagonalGaussian(*torch.zeros(2, 2, dtype=torch.float64)))
    assert kl.dtype == torch.float64 and kl.shape == (1,)
    torch.testing.assert_close(kl, expected, rtol=1e-12, atol=0)
    assert kl_divergence(DiagonalGaussian(*torch.zeros(2, 3, 4)), DiagonalGaussian(*torch.zeros(2, 4))).abs().max() == 0


def test_gradients_reach_encoder_through_reparameterization():
    torch.manual_seed(0)
    model = mlp_vae(latent_dim=4, hidden_dims=[32, 16])
    terms = model.loss_terms(torch.rand(8, 1, 28, 28))
    loss = (terms["recon"] + terms["kl"]).mean()
    assert torch.isfinite(loss)
    loss.backward()
    assert model.encoder.mean.weight.grad.abs().sum() > 0
    assert model.encoder.logvar.weight.grad.abs().sum() > 0
    # Only the reconstruction term can move the log-variance head towards the data: it needs the sample path.
    model.zero_grad()
    model.loss_terms(torch.rand(8, 1, 28, 28))["recon"].mean().backward()
    assert model.encoder.logvar.weight.grad.abs().sum() > 0


def binary_images(count: int, seed: int = 1) -> torch.Tensor:
    """Bernoulli pixels with a digit-like spread of probabilities, (count, 1, 28, 28)."""
    generator = torch.Generator().manual_seed(seed)
    return torch.bernoulli(torch.rand(count, 1, 28, 28, generator=generator) ** 3, generator=generator)


def test_with_one_importance_sample_the_training_loss_is_the_negative_elbo():
    torch.manual_seed(0)
    model = mlp_vae(latent_dim=4, hidden_dims=[32], iwae_k=1)
    x = binary_images(16)
    torch.manual_seed(7)
    loss = model.training_loss(model.loss_terms(x, model.iwae_k))
    torch.manual_seed(7)  # the evaluation's ELBO on the same posterior sample
    expected = -elbo(x, model, num_samples=1).mean()
    torch.testing.assert_close(loss.double(), expected, atol=1e-4, rtol=0)


def test_the_iwae_loss_is_at_most_the_elbo_loss_on_average_and_trains_the_encoder():
    torch.manual_seed(0)
    model = mlp_vae(latent_dim=4, hidden_dims=[32], iwae_k=5)
    x = binary_images(16)
    iwae_losses, elbo_losses = [], []
    for seed in range(20):
        torch.manual_seed(seed)
        iwae_losses.append(model.training_loss(model.loss_terms(x, 5)).item())
        torch.manual_seed(seed)
        elbo_losses.append(model.training_loss(model.loss_terms(x, 1)).item())
    assert sum(iwae_losses) / 20 < sum(elbo_losses) / 20
    terms = model.loss_terms(x, 5)
    assert terms["iwae_bound"].shape == terms["recon"].shape == terms["kl"].shape == (16,)
    model.training_loss(terms).backward()
    for layer in (model.encoder.mean, model.encoder.logvar, model.decoder.net[0]):
        assert torch.isfinite(layer.weight.grad).all() and layer.weight.grad.abs().sum() > 0


def test_the_training_bound_is_the_evaluation_iwae_estimate_on_the_same_samples():
    torch.manual_seed(0)
    model = mlp_vae(latent_dim=4, hidden_dims=[32], iwae_k=5)
    x = binary_images(8)
    torch.manual_seed(3)
    bound = model.loss_terms(x, 5)["iwae_bound"]
    estimate = iwae_log_likelihood(x, model, 5, generator=torch.Generator().manual_seed(3))
    torch.testing.assert_close(bound.double(), estimate, atol=1e-4, rtol=0)
    assert model.training_loss({"iwae_bound": bound}).item() == pytest.approx(-estimate.mean().item(), abs=1e-4)


BAD_OPTIONS = [({"latent_dim": bad}, "latent") for bad in (0, -2, 2.5, True)]
BAD_OPTIONS += [({"iwae_k": 0}, "model.iwae_k"), ({"iwae_k": 5, "beta": 0.5}, "beta")]


@pytest.mark.parametrize(("kwargs", "key"), BAD_OPTIONS)
def test_bad_options_are_refused(kwargs, key):
    with pytest.raises(ConfigError, match=key):
        VAE(torch.nn.Identity(), torch.nn.Identity(), **{"latent_dim": 2, **kwargs})


@pytest.mark.parametrize("network", [MLPEncoder, MLPDecoder])
@pytest.mark.parametrize("widths", [[], [16, 0]])
def test_bad_widths_are_refused_naming_the_network(network, widths):
    name = "encoder" if network is MLPEncoder else "decoder"
    with pytest.raises(ConfigError, match=rf"model\.{name}\.hidden_dims must be a non-empty list"):
        network(2, widths)


def test_the_hyper_parameters_record_the_networks_class_and_size_not_the_networks():
    model = mlp_vae(latent_dim=2, hidden_dims=[16])
    assert set(model.hparams) == {"latent_dim", "beta", "iwae_k", "num_classes", "likelihood", "encoder", "decoder"}
    # 784*16+16 + 2*(16*2+2) and 2*16+16 + 16*784+784
    assert model.hparams["encoder"] == {"class": "genmodels.models.vae_mlp.MLPEncoder", "parameters": 12628}
    assert model.hparams["decoder"] == {"class": "genmodels.models.vae_mlp.MLPDecoder", "parameters": 13376}
    with pytest.raises(CheckpointError, match=r"differs in \['decoder', 'encoder'\]"):
        check_same_model(model.hparams, mlp_vae(latent_dim=2, hidden_dims=[32]).hparams, source="test")


def test_a_checkpoint_fits_a_model_trained_with_another_iwae_k():
    older = {key: value for key, value in mlp_vae(latent_dim=2).hparams.items() if key != "iwae_k"}
    check_same_model(older, mlp_vae(latent_dim=2, iwae_k=5).hparams, source="test")
    with pytest.raises(CheckpointError, match="latent_dim"):
        check_same_model(older, mlp_vae(latent_dim=3, iwae_k=5).hparams, source="test")


def test_short_training_lowers_negative_elbo(mnist_dir):
    torch.manual_seed(0)
    dm = MNISTDataModule(data_dir=str(mnist_dir))
    dm.setup()
    train_x = dm.transform(dm.splits["train"].images[:4096])
    held_out = dm.transform(dm.splits["val"].images[:1000])
    model = mlp_vae(latent_dim=10)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)

    def negative_elbo(x):
        with torch.no_grad():
            terms = model.loss_terms(x)
        return (terms["recon"] + terms["kl"]).mean().item()

    before = negative_elbo(held_out)
    for _ in range(3):
        for batch in train_x.split(128):
            terms = model.loss_terms(batch)
            optimizer.zero_grad()
            (terms["recon"] + terms["kl"]).mean().backward()
            optimizer.step()
    after = negative_elbo(held_out)
    assert before > 500  # an untrained decoder: ~784 * log 2 nats
    assert after < 200 < before


def test_figure_titles_name_a_vae_s_networks():
    trainer = SimpleNamespace(datamodule=SimpleNamespace(image_size=28), current_epoch=1)
    assert figure_subject(trainer, mlp_vae(latent_dim=2, hidden_dims=[16])) == "VAE (vae_mlp), latent 2, 28×28, 1 epoch"
    conv = VAE(ConvEncoder(3, [4, 8]), ConvDecoder(3, [4, 8]), latent_dim=3)
    assert figure_subject(trainer, conv) == "VAE (conv_vae), latent 3, 28×28, 1 epoch"

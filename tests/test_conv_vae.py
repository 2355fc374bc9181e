"""The convolutional VAE (model=conv_vae): its networks' shapes, the -ELBO against torch.distributions, a tiny train
and evaluate."""

from pathlib import Path

import pytest
import torch
from torch.distributions import Bernoulli, Normal, kl_divergence

from genmodels.contract import EncodesImages, GeneratesImages, HasLikelihood, NamesNetworks, ReconstructsImages
from genmodels.errors import ConfigError
from genmodels.evaluate import evaluate
from genmodels.models.conv_vae import ConvDecoder, ConvEncoder
from genmodels.models.vae import VAE
from genmodels.runs.folder import write_run_files
from genmodels.train import train
from tests.helpers import compose_evaluate


def conv_vae(latent_dim: int, widths: list[int]) -> VAE:
    return VAE(ConvEncoder(latent_dim, widths), ConvDecoder(latent_dim, widths), latent_dim)


@pytest.mark.parametrize("channels", [1, 3])  # 3: colour images
def test_the_networks_map_images_to_codes_and_back(channels):
    encoder, decoder = ConvEncoder(3, [8, 16], channels=channels), ConvDecoder(3, [8, 16], channels=channels)
    mu, logvar = encoder(torch.rand(4, channels, 28, 28))
    assert mu.shape == logvar.shape == (4, 3)
    assert decoder(mu).shape == (4, channels, 28, 28)  # one Bernoulli logit per pixel


def test_the_vae_of_these_networks_has_every_capability():
    model = conv_vae(3, [8, 16])
    x = torch.rand(4, 1, 28, 28)
    assert model.generate(torch.randn(6, 3)).shape == (6, 1, 28, 28)
    assert model.reconstruct(x).shape == x.shape and model.encode_mean(x).shape == (4, 3)
    for capability in (GeneratesImages, ReconstructsImages, EncodesImages, HasLikelihood, NamesNetworks):
        assert isinstance(model, capability)


@pytest.mark.parametrize("network", [ConvEncoder, ConvDecoder])
def test_widths_the_image_side_cannot_take_are_refused(network):
    with pytest.raises(ConfigError, match=r"widths=\[8, 16, 32\] halves the image side 3 times"):
        network(2, [8, 16, 32], image_size=28)


def test_negative_elbo_equals_a_torch_distributions_reference():
    torch.manual_seed(0)
    model = conv_vae(4, [4, 8])
    x = torch.bernoulli(torch.rand(5, 1, 28, 28))
    torch.manual_seed(1)
    terms = model.loss_terms(x)
    neg_elbo = terms["recon"] + terms["kl"]

    mu, logvar = model.encoder(x)
    q = Normal(mu, torch.exp(0.5 * logvar))
    torch.manual_seed(1)  # the same posterior sample
    z = q.rsample()
    log_px_z = Bernoulli(logits=model.decoder(z)).log_prob(x).flatten(start_dim=1).sum(dim=1)
    kl = kl_divergence(q, Normal(torch.zeros_like(mu), torch.ones_like(mu))).sum(dim=1)
    torch.testing.assert_close(neg_elbo, -log_px_z + kl)


def test_a_tiny_run_with_a_list_option_and_a_schedule_is_evaluated(train_config, mnist_dir):
    overrides = ["model=conv_vae", "model.encoder.widths=[4,8]", "lr_scheduler=exponential", "debug=tiny"]
    cfg = train_config(overrides)
    metrics, built = train(cfg)
    write_run_files(Path(cfg.paths.output_dir), cfg, overrides, with_hydra=False)  # the command saves them too
    assert built["model"].decoder.net[-1].in_channels == 4  # the decoder mirrors the encoder's widths
    assert type(built["trainer"].lr_scheduler_configs[0].scheduler).__name__ == "ExponentialLR"
    assert torch.isfinite(torch.tensor(metrics["test/neg_elbo"]))

    settings = ["metrics.sample_quality=false", "metrics.iwae_k=5", "metrics.num_test_images=20", "progress=false"]
    report = evaluate(compose_evaluate([f"run_dir={cfg.paths.output_dir}", f"data_dir={mnist_dir}", *settings]))
    assert report["model"] == "VAE"
    assert {"test_neg_elbo", "test_iwae_nll"} <= set(report["metrics"])

"""The convolutional VAE (model=conv_vae): shapes, its -ELBO against torch.distributions, a tiny train and evaluate."""

from pathlib import Path

import torch
from torch.distributions import Bernoulli, Normal, kl_divergence

from genmodels.contract import EncodesImages, GeneratesImages, HasLikelihood, NamesNetworks, ReconstructsImages
from genmodels.evaluate import evaluate
from genmodels.models.conv_vae import ConvVAE
from genmodels.runs.folder import write_run_files
from genmodels.train import train
from tests.helpers import compose_evaluate


def test_shapes_and_capabilities():
    model = ConvVAE(latent_dim=3, channels=[8, 16], image_size=28)
    x = torch.rand(4, 1, 28, 28)
    mu, logvar = model.encoder(x)
    assert mu.shape == logvar.shape == (4, 3)
    assert model.decoder(mu).shape == (4, 1, 28, 28)  # one Bernoulli logit per pixel
    assert model.generate(torch.randn(6, 3)).shape == (6, 1, 28, 28)
    assert model.reconstruct(x).shape == x.shape and model.encode_mean(x).shape == (4, 3)
    for capability in (GeneratesImages, ReconstructsImages, EncodesImages, HasLikelihood, NamesNetworks):
        assert isinstance(model, capability)


def test_negative_elbo_equals_a_torch_distributions_reference():
    torch.manual_seed(0)
    model = ConvVAE(latent_dim=4, channels=[4, 8])
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
    overrides = ["model=conv_vae", "model.channels=[4,8]", "lr_scheduler=exponential", "debug=tiny"]
    cfg = train_config(overrides)
    metrics, built = train(cfg)
    write_run_files(Path(cfg.paths.output_dir), cfg, overrides, with_hydra=False)  # the command saves them too
    assert built["model"].hparams["channels"] == [4, 8] and type(built["model"].hparams["channels"]) is list
    assert type(built["trainer"].lr_scheduler_configs[0].scheduler).__name__ == "ExponentialLR"
    assert torch.isfinite(torch.tensor(metrics["test/neg_elbo"]))

    settings = ["metrics.sample_quality=false", "metrics.iwae_k=5", "metrics.num_test_images=20", "progress=false"]
    report = evaluate(compose_evaluate([f"run_dir={cfg.paths.output_dir}", f"data_dir={mnist_dir}", *settings]))
    assert report["model"] == "ConvVAE"
    assert {"test_neg_elbo", "test_iwae_nll"} <= set(report["metrics"])

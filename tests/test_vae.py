import pytest
import torch

from genmodels.data import MNISTDataModule
from genmodels.models.vae import VAE


def test_shapes_and_architecture():
    model = VAE(latent_dim=3, hidden_dims=[500], image_size=28)
    linears = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [(784, 500), (500, 3), (500, 3), (3, 500), (500, 784)]
    x = torch.rand(4, 1, 28, 28)
    terms = model.loss_terms(x)
    assert terms["recon"].shape == (4,) and terms["kl"].shape == (4,)
    assert model.generate(torch.randn(6, 3)).shape == (6, 1, 28, 28)
    assert model.reconstruct(x).shape == x.shape and model.encode_mean(x).shape == (4, 3)


def test_gradients_reach_encoder_through_reparameterization():
    torch.manual_seed(0)
    model = VAE(latent_dim=4, hidden_dims=[32, 16])
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


@pytest.mark.parametrize("bad", [0, -2, 2.5, True])
def test_latent_must_be_positive_int(bad):
    with pytest.raises(ValueError, match="latent"):
        VAE(latent_dim=bad)


def test_short_training_lowers_negative_elbo(mnist_dir):
    torch.manual_seed(0)
    dm = MNISTDataModule(data_dir=str(mnist_dir))
    dm.setup()
    train_x = dm.transform(dm.splits["train"].images[:4096])
    held_out = dm.transform(dm.splits["val"].images[:1000])
    model = VAE(latent_dim=10)
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

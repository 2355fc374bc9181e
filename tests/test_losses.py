import torch
from torch.distributions import Bernoulli, Normal, kl_divergence

from genmodels.models.losses import bernoulli_nll, gaussian_kl_to_standard_normal


def test_kl_matches_torch_distributions_also_far_from_the_prior():
    torch.manual_seed(0)
    mu, logvar = torch.randn(16, 7) * 2, torch.randn(16, 7)
    expected = kl_divergence(Normal(mu, torch.exp(0.5 * logvar)), Normal(0.0, 1.0)).sum(-1)
    torch.testing.assert_close(gaussian_kl_to_standard_normal(mu, logvar), expected)
    # The report's question 1.5: q = N(1000, 1/4) against N(0, 1), here in two latent dimensions.
    mu = torch.tensor([[1000.0, -1000.0]], dtype=torch.float64)
    variance = torch.full_like(mu, 0.25)
    expected = kl_divergence(Normal(mu, variance.sqrt()), Normal(0.0, 1.0)).sum(-1)
    kl = gaussian_kl_to_standard_normal(mu, variance.log())
    assert kl.dtype == torch.float64 and kl.shape == (1,)
    torch.testing.assert_close(kl, expected, rtol=1e-12, atol=0)
    assert gaussian_kl_to_standard_normal(torch.zeros(3, 4), torch.zeros(3, 4)).abs().max() == 0  # q is the prior


def test_bernoulli_nll_matches_log_prob_on_binary_targets():
    torch.manual_seed(1)
    logits = torch.randn(5, 1, 28, 28) * 3
    targets = torch.bernoulli(torch.full_like(logits, 0.3))
    expected = -Bernoulli(logits=logits).log_prob(targets).flatten(1).sum(1)
    torch.testing.assert_close(bernoulli_nll(logits, targets), expected)


def test_bernoulli_nll_on_grey_targets_is_cross_entropy():
    logits, targets = torch.tensor([[0.3, -1.2]]), torch.tensor([[0.25, 0.9]])
    p = torch.sigmoid(logits)
    expected = -(targets * p.log() + (1 - targets) * (1 - p).log()).sum(1)
    torch.testing.assert_close(bernoulli_nll(logits, targets), expected)

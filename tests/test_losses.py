import torch
from torch.distributions import Bernoulli

from genmodels.models.losses import bernoulli_nll


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

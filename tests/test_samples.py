"""Which epochs the sample figures are drawn after."""

import pytest

from genmodels.callbacks.samples import figure_epochs


@pytest.mark.parametrize(
    "requested, max_epochs, epochs, dropped",
    [
        (None, 40, [1, 20, 40], []),
        (None, 5, [1, 3, 5], []),
        (None, 2, [1, 2], []),
        (None, 1, [1], []),
        (None, -1, [1], []),  # no epoch limit: the first epoch, and the last one when fitting ends
        ([1, 20, 40], 3, [1], [20, 40]),
        ([40, 5, 1, 5], 40, [1, 5, 40], []),
        ([7], -1, [7], []),
    ],
)
def test_figure_epochs_follow_the_run(requested, max_epochs, epochs, dropped):
    assert figure_epochs(requested, max_epochs) == (epochs, dropped)

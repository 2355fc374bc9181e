import pytest
import torch
from scipy.stats import norm

from genmodels.callbacks.latent import LatentManifold, lerp, manifold_grid, slerp


def test_paths_hit_endpoints_and_slerp_keeps_unit_norm_and_even_angles():
    z0, z1 = torch.randn(2, 5, generator=torch.Generator().manual_seed(0))
    for path in (lerp, slerp):
        points = path(z0, z1, 7)
        assert points.shape == (7, 5)
        torch.testing.assert_close(points[[0, -1]], torch.stack([z0, z1]))
    z0, z1 = torch.tensor([1.0, 0.0]), torch.tensor([0.0, 1.0])
    points = slerp(z0, z1, 5)
    torch.testing.assert_close(points.norm(dim=1), torch.ones(5))
    angles = torch.atan2(points[:, 1], points[:, 0])
    torch.testing.assert_close(angles, torch.linspace(0, torch.pi / 2, 5))
    midpoint = lerp(z0, z1, 3)[1]
    assert midpoint.norm() < 0.75  # the straight line cuts through the low-norm middle


def test_manifold_grid_uses_normal_quantiles_within_its_range():
    grid = manifold_grid(4, (0.1, 0.9))
    expected = norm.ppf([0.1, 0.3666666, 0.6333333, 0.9])
    assert grid.shape == (16, 2)
    torch.testing.assert_close(grid[:4, 0], torch.tensor(expected, dtype=torch.float32), atol=1e-5, rtol=0)
    assert grid[0, 1] == pytest.approx(expected[-1], abs=1e-5)  # top row has the highest z2
    with pytest.raises(ValueError, match="quantile_range"):
        manifold_grid(4, (0.0, 1.0))


@pytest.mark.parametrize(
    "z0, z1",
    [
        ([1.5], [-0.5]),  # latent 1: two points are always 0 or pi apart
        ([0.7], [2.0]),
        ([1.0, 2.0, -1.0], [-2.0, -4.0, 2.0]),  # opposite
        ([1.0, 2.0, -1.0], [-2.0, -4.0, 2.0001]),  # nearly opposite
        ([1.0, 2.0, -1.0], [2.0, 4.0, -2.0001]),  # nearly parallel
    ],
)
def test_slerp_falls_back_to_lerp_where_the_arc_is_undefined(z0, z1):
    z0, z1 = torch.tensor(z0), torch.tensor(z1)
    points = slerp(z0, z1, 9)
    torch.testing.assert_close(points, lerp(z0, z1, 9))
    assert points.abs().max() <= torch.maximum(z0.abs().max(), z1.abs().max())


def test_manifold_figure_ticks_tile_centres_with_their_latent_value_and_quantile(tmp_path):
    figure = LatentManifold(str(tmp_path), grid_size=4, quantile_range=(0.05, 0.95)).figure(
        torch.rand(16, 1, 28, 28), "VAE"
    )
    axis = figure.axes[0]
    first, last = f"{norm.ppf(0.05):+.2f}\n(5 %)", f"{norm.ppf(0.95):+.2f}\n(95 %)"
    columns = [tick.get_text() for tick in axis.get_xticklabels()]
    assert len(columns) == 4 and columns[0] == first and columns[-1] == last
    assert [tick.get_text() for tick in axis.get_yticklabels()] == columns[::-1]  # the top row has the highest z2
    assert list(axis.get_xticks()) == [2 + 14 + 30 * i for i in range(4)]  # 2-pixel padding, 28-pixel tiles
    assert "4×4 grid" in axis.get_title() and "5–95 %" in axis.get_title()

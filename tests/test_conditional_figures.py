"""A conditional model's figures and sample scores, on a stand-in model whose pictures show the class asked for."""

from __future__ import annotations

from types import SimpleNamespace

import matplotlib.pyplot as plt
import torch
from torch import nn

from genmodels.callbacks.sample_quality import SampleQualityMonitor
from genmodels.callbacks.samples import ClassAnalogies, SampleGrid, analogies
from genmodels.metrics.sample_quality import conditional_accuracy

K, SIDE = 5, 8


class ClassPainter(nn.Module):
    """A conditional model: a sample of class y is a flat picture of grey (y + 1/2) / K, plus its code's first entry
    / 20 (so each column of codes is told apart); its encoder reads that entry back."""

    latent_dim, num_classes, device = 3, K, torch.device("cpu")

    def generate(self, z: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        grey = (labels.float() + 0.5) / K + z[:, 0].clamp(-1, 1) / 20
        return grey.view(-1, 1, 1, 1).expand(len(z), 1, SIDE, SIDE).clone()

    def encode_mean(self, x: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        z = torch.zeros(len(x), self.latent_dim)
        z[:, 0] = (x.mean(dim=(1, 2, 3)) - (labels.float() + 0.5) / K) * 20
        return z

    @staticmethod
    def to_unit_range(x: torch.Tensor) -> torch.Tensor:
        return x


def tile(grid, row: int, column: int) -> float:
    """The grey level at the centre of a grid tile (tiles of SIDE pixels, 2 pixels of padding)."""
    return float(grid[2 + row * (SIDE + 2) + SIDE // 2, 2 + column * (SIDE + 2) + SIDE // 2, 0])


def test_the_sample_grid_has_one_row_per_class_and_one_code_per_column(tmp_path):
    callback = SampleGrid(str(tmp_path), per_class=4, seed=0)
    callback.draw(SimpleNamespace(loggers=[], global_step=0), ClassPainter(), 1)
    grid = plt.imread(tmp_path / "samples" / "epoch_001_mean.png")
    assert grid.shape[:2] == (2 + K * (SIDE + 2), 2 + 4 * (SIDE + 2))
    values = torch.tensor([[tile(grid, row, column) for column in range(4)] for row in range(K)])
    codes = values - (torch.arange(K).view(-1, 1) + 0.5) / K  # what the code adds: the same down each column
    assert torch.allclose(codes, codes[0].expand(K, 4), atol=2 / 255)
    assert codes[0].unique().numel() == 4  # four codes
    assert (values[1:] > values[:-1] + 0.15).all()  # class k's row is greyer than class k-1's


def test_the_analogies_decode_each_images_code_under_every_label():
    model = ClassPainter()
    x = torch.tensor([0.3 + 0.02, 0.7 - 0.01]).view(2, 1, 1, 1).expand(2, 1, SIDE, SIDE)  # classes 1 and 3
    pictures = analogies(model, x, torch.tensor([1, 3]))
    assert pictures.shape == (2 * (K + 1), 1, SIDE, SIDE)
    rows = pictures[:, 0, 0, 0].view(2, K + 1)
    torch.testing.assert_close(rows[:, 0], x[:, 0, 0, 0])  # the image itself, then its style under each class
    torch.testing.assert_close(rows[0, 1:], (torch.arange(K) + 0.5) / K + 0.02)
    torch.testing.assert_close(rows[1, 1:], (torch.arange(K) + 0.5) / K - 0.01)


def test_the_analogies_figure_says_what_its_rows_and_columns_are(tmp_path):
    x = torch.full((2, 1, SIDE, SIDE), 0.5)
    datamodule = SimpleNamespace(image_size=SIDE, example_batch=lambda split, count, device: (x, torch.tensor([1, 3])))
    trainer = SimpleNamespace(is_global_zero=True, datamodule=datamodule, current_epoch=4, loggers=[], global_step=0)
    callback, drawn = ClassAnalogies(str(tmp_path), num_images=2), {}
    callback.write_figure = lambda trainer, name, figure: drawn.update({name: figure})
    callback.on_fit_end(trainer, ClassPainter())
    axis = drawn["analogies"].axes[0]
    assert axis.get_title().startswith(f"ClassPainter, latent 3, {SIDE}×{SIDE}, 4 epochs\nanalogies: each row a test")
    assert f"decoded under each label 0..{K - 1}" in axis.get_title()
    assert [label.get_text() for label in axis.get_xticklabels()] == ["test image", *map(str, range(K))]
    assert axis.get_images()[0].get_array().shape[:2] == (2 + 2 * (SIDE + 2), 2 + (K + 1) * (SIDE + 2))
    plt.close(drawn["analogies"])


class GreyClassifier(nn.Module):
    """A stand-in MNIST classifier: class floor(K * grey) of a picture's mean grey level, but never class 2."""

    channels, side = 1, 28  # the input classifier_outputs prepares

    def __init__(self) -> None:
        super().__init__()
        self.unused = nn.Parameter(torch.zeros(()))  # where classifier_outputs looks for the device

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean(dim=(1, 2, 3)).unsqueeze(1).repeat(1, 2) + torch.randn(len(x), 2) * 0.01

    def head(self, features: torch.Tensor) -> torch.Tensor:
        classes = (features[:, 0] * K).floor().long().clamp(0, 9)
        classes[classes == 2] = 0
        return torch.nn.functional.one_hot(classes, 10).float() * 50


def test_the_conditional_accuracy_is_the_share_drawn_as_asked():
    monitor = SampleQualityMonitor(num_samples=100, batch_size=30, seed=0)
    monitor._classifier, monitor._reference = GreyClassifier(), torch.randn(50, 2)
    torch.manual_seed(0)
    scores = monitor.score(ClassPainter())
    assert scores["val/cond_acc"] == 0.8  # balanced labels: 20 of each class, class 2 always misread
    assert set(scores) == {"val/fid_clf", "val/is_clf", "val/cond_acc"}
    probabilities = torch.eye(3)[[0, 1, 2, 2]]
    assert conditional_accuracy(probabilities, torch.tensor([0, 1, 1, 2])) == 0.75

"""docs/using_a_trained_model.md: its Python blocks run, in order, as one notebook on a tiny VAE run (its commands
are run by tests/test_readme_commands.py)."""

from __future__ import annotations

import re
import warnings

import matplotlib
import matplotlib.pyplot as plt
import torch
from torchvision.io import encode_png

from tests.helpers import REPO

GUIDE = REPO / "docs" / "using_a_trained_model.md"


def test_the_notebook_example_runs(tiny_runs, tmp_path, monkeypatch):
    blocks = re.findall(r"```python\n(.*?)```", GUIDE.read_text(), flags=re.S)
    assert len(blocks) == 2, "the page's sampling and reconstruction examples"
    code = "\n".join(blocks).replace("outputs/train/runs/<time>", str(tiny_runs["vae"]))
    monkeypatch.chdir(tmp_path)
    (tmp_path / "digit.png").write_bytes(encode_png(torch.full((1, 28, 28), 200, dtype=torch.uint8)).numpy().tobytes())
    matplotlib.use("Agg")
    notebook: dict = {}
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*non-interactive.*")  # plt.show() without a screen
        exec(compile(code, str(GUIDE), "exec"), notebook)
    plt.close("all")
    assert (
        notebook["images"].shape == (16, 1, 28, 28) and 0 <= notebook["images"].min() <= notebook["images"].max() <= 1
    )
    assert notebook["pictures"].shape == (2, 1, 28, 28) and torch.all(notebook["pictures"][0] == 200 / 255)
    assert not notebook["model"].training

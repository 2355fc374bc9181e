"""experiment=cpu_cgan and experiment=cvae end to end on a slice of MNIST: train (debug=tiny), evaluate, sample one
class, reconstruct images given their classes; a conditional model on data of other classes is refused in one
line."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from torchvision.io import encode_png

import genmodels
from tests.helpers import QUICK_EVAL_CLASSIFIER

EVALUATE = ["metrics.iwae_k=5", "metrics.num_test_images=50", "metrics.num_samples=400", "progress=false"]


@pytest.fixture(scope="module")
def conditional_runs(run_main, tmp_path_factory) -> dict[str, Path]:
    """A debug=tiny run of each conditional experiment, evaluated, by experiment name."""
    runs = {}
    for name in ("cpu_cgan", "cvae"):
        runs[name] = tmp_path_factory.mktemp(name) / "run"
        run_main("genmodels.train", f"experiment={name}", "debug=tiny", f"hydra.run.dir={runs[name]}")
        run_main("genmodels.evaluate", f"run_dir={runs[name]}", *EVALUATE, *QUICK_EVAL_CLASSIFIER)
    return runs


@pytest.mark.parametrize("name", ["cpu_cgan", "cvae"])
def test_a_conditional_experiment_trains_and_evaluates(conditional_runs, name):
    summary = json.loads((conditional_runs[name] / "metrics.json").read_text())
    evaluation = summary["eval"]
    metrics, floors, details = evaluation["metrics"], evaluation["floors"], evaluation["details"]["sample_quality"]
    assert 0 <= metrics["conditional_accuracy"] <= 1
    assert floors["conditional_accuracy"] == metrics["classifier_test_accuracy"]
    assert set(details["fid_classifier_per_class"]) == {str(k) for k in range(10)}
    assert set(details["fid_classifier_per_class_floor"]) == {str(k) for k in range(10)}
    assert all(value >= 0 for value in details["fid_classifier_per_class"].values())
    assert details["class_histogram"] and details["labels"].startswith("balanced")
    model = genmodels.load_run(conditional_runs[name])
    assert model.num_classes == 10 and model.hparams.num_classes == 10
    if name == "cvae":
        assert evaluation["details"]["likelihood"]["likelihood"].startswith("log p(x|y)")
        assert metrics["test_iwae_nll"] <= metrics["test_neg_elbo"] + 1.0
        assert {"train/neg_elbo", "test/neg_elbo"} <= set(summary["metrics"])
    else:
        assert "val/cond_acc" in summary["metrics"] and "val/fid_clf" in summary["metrics"]


@pytest.mark.parametrize("name", ["cpu_cgan", "cvae"])
def test_samples_of_one_class(run_main, conditional_runs, tmp_path, name):
    out = tmp_path / "sevens"
    run_main("genmodels.sample", f"run_dir={conditional_runs[name]}", f"out={out}", "num=6", "label=7",
             "format=npz", "progress=false")  # fmt: skip
    with np.load(out / "samples.npz", allow_pickle=False) as arrays:
        assert arrays["images"].shape[0] == 6 and (arrays["labels"] == 7).all()


def test_a_conditional_model_needs_the_datas_classes(run_main, tmp_path):
    result = run_main(
        "genmodels.train", "experiment=cvae", "debug=tiny", "model.num_classes=7", f"hydra.run.dir={tmp_path}",
        check=False,
    )  # fmt: skip
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "error: model.num_classes=7, but mnist has 10 classes. Fix: model.num_classes=10." in result.stderr


def test_a_cvae_reconstructs_images_given_their_classes(run_main, conditional_runs, tmp_path):
    """The classes come from class subfolders, an .npz's labels or label=; without them, one line says what is
    needed."""
    run, model = conditional_runs["cvae"], genmodels.load_run(conditional_runs["cvae"])
    digits = torch.randint(0, 256, (3, 1, 28, 28), generator=torch.Generator().manual_seed(0), dtype=torch.uint8)
    by_class, flat = tmp_path / "by_class", tmp_path / "flat"
    for folder, name, digit in ((by_class / "7", "a.png", 0), (by_class / "3", "b.png", 1), (flat, "c.png", 2)):
        folder.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(encode_png(digits[digit]).numpy().tobytes())

    def reconstruct(*settings: str, check: bool = True):
        return run_main("genmodels.sample", f"run_dir={run}", "format=npz", "progress=false", *settings, check=check)

    reconstruct(f"reconstruct={by_class}", f"out={tmp_path / 'a'}")
    manifest = json.loads((tmp_path / "a" / "samples.json").read_text())
    assert manifest["inputs"] == ["3/b.png", "7/a.png"] and manifest["labels"] == [3, 7]
    with np.load(tmp_path / "a" / "reconstructions.npz") as arrays:
        expected = model.reconstruct(digits[[1, 0]].float().div(255), torch.tensor([3, 7]))
        assert np.array_equal(arrays["images"], expected.mul(255).add(0.5).clamp(0, 255).byte().numpy())

    refused = reconstruct(f"reconstruct={flat}", f"out={tmp_path / 'b'}", check=False)
    assert refused.returncode == 1 and "Traceback" not in refused.stderr and not (tmp_path / "b").exists()
    assert (
        f"error: reconstruct={flat}: VAE is conditional and reconstructs each image given its class" in refused.stderr
    )
    reconstruct(f"reconstruct={flat}", "label=5", f"out={tmp_path / 'c'}")
    assert json.loads((tmp_path / "c" / "samples.json").read_text())["labels"] == [5]

    run_main("genmodels.sample", f"run_dir={run}", "num=3", "label=2", "format=npz", f"out={tmp_path / 'twos'}")
    reconstruct(f"reconstruct={tmp_path / 'twos' / 'samples.npz'}", f"out={tmp_path / 'd'}")
    assert json.loads((tmp_path / "d" / "samples.json").read_text())["labels"] == [2, 2, 2]

"""The shipped models on a generated RGB folder of coloured shapes (class subfolders) at 32x32: trained with colour
figures, scored by a classifier trained on the folder (FID, the GAN's val/fid_clf), evaluated with the features
named, and the MNIST networks left as they were."""

import json
from pathlib import Path

import numpy as np
import pytest
from hydra.utils import instantiate
from PIL import Image

from genmodels.data.folder import FolderDataModule
from genmodels.models.networks import describe
from tests.helpers import QUICK_CLASSIFIER, QUICK_EVAL_CLASSIFIER, compose_train, run_main, short_run
from tests.test_folder_data import make_shapes

QUICK_SCORES = ["callbacks.sample_quality.num_samples=64", *QUICK_CLASSIFIER]
QUICK_EVALUATION = ["metrics.iwae_k=4", "metrics.num_test_images=4", "metrics.num_samples=64", "progress=false"]


@pytest.fixture(scope="module")
def shapes(tmp_path_factory) -> Path:
    """120 images of three classes, 40 each (PNG and JPEG, several sizes)."""
    return make_shapes(tmp_path_factory.mktemp("folder") / "shapes", per_class=40)


def folder_args(shapes: Path, run: Path) -> list[str]:
    return ["data=folder", f"data.path={shapes}", f"hydra.run.dir={run}", "trainer.enable_progress_bar=false"]


@pytest.mark.parametrize("model", ["vae", "conv_vae", "lean_gan"])
def test_each_model_trains_on_rgb_images_and_draws_colour_samples(model, shapes, tmp_path):
    run = tmp_path / "run"
    extra = QUICK_SCORES if model == "lean_gan" else ["~callbacks.manifold", "~callbacks.latent_scatter"]
    args = [f"model={model}", *folder_args(shapes, run), "data.image_size=32", *short_run(1, 2), *extra]
    run_main("genmodels.train", *args, "~logger", data=tmp_path)
    figure = np.asarray(Image.open(run / "figures" / "samples" / "epoch_001_mean.png").convert("RGB"))
    red, green, blue = (figure[..., channel].astype(int) for channel in range(3))
    assert (red != green).any() and (green != blue).any()
    summary = json.loads((run / "metrics.json").read_text())
    if model == "lean_gan":  # its best epoch is scored by the classifier trained on the folder
        assert summary["metrics"]["val/fid_clf"] >= 0


def test_evaluate_scores_a_folder_run_with_its_own_classifier_and_follows_data_dir(shapes, tmp_path):
    run = tmp_path / "run"
    run_main("genmodels.train", "model=conv_vae", *folder_args(shapes, run), "debug=tiny", data=tmp_path)
    evaluation = [f"run_dir={run}", *QUICK_EVALUATION, *QUICK_EVAL_CLASSIFIER]
    run_main("genmodels.evaluate", *evaluation, data=tmp_path)
    result = json.loads((run / "metrics.json").read_text())["eval"]
    assert result["metrics"]["fid_classifier"] >= 0 and 0 <= result["metrics"]["classifier_test_accuracy"] <= 1
    features = result["details"]["sample_quality"]["features"]
    assert features == "classifier trained on folder shapes (penultimate layer)"
    assert result["details"]["likelihood"]["pixel_likelihood"].startswith("bernoulli:")
    assert "classifiers" in result["details"]["sample_quality"]["classifier"]["path"]
    # Another data folder (a fresh cache and classifier there), as the evaluate option says.
    moved = tmp_path / "moved_data"
    run_main("genmodels.evaluate", *evaluation, f"data_dir={moved}", "metrics.sample_quality=false", data=tmp_path)
    assert list((moved / "folders").glob("shapes-32px-3ch-*.pt"))


def test_an_unlabelled_folder_says_why_it_has_no_sample_score(tmp_path):
    loose = tmp_path / "loose"
    for image in make_shapes(tmp_path / "shapes", per_class=4).rglob("*.png"):
        loose.mkdir(exist_ok=True)
        image.rename(loose / f"{image.parent.name}_{image.name}")
    run = tmp_path / "run"
    run_main("genmodels.train", *folder_args(loose, run), "debug=tiny", "data.val_fraction=0.2", data=tmp_path)
    run_main("genmodels.evaluate", f"run_dir={run}", *QUICK_EVALUATION, data=tmp_path)
    result = json.loads((run / "metrics.json").read_text())["eval"]
    assert "fid_classifier" not in result["metrics"]
    assert result["details"]["sample_quality"]["features"].startswith("none: folder loose has no labels")


def test_two_folders_never_share_a_classifier(shapes, tmp_path):
    other = make_shapes(tmp_path / "shapes", per_class=4)  # same name, other place and files
    names = set()
    for root in (shapes, other):
        datamodule = FolderDataModule(str(root), cache_dir=str(tmp_path / "cache"))
        datamodule.setup()
        names.add(datamodule.reference_data().name)
    assert len(names) == 2 and all(name.startswith("folder-shapes-32px-3ch-") for name in names)


@pytest.mark.parametrize("model", ["lean_gan", "dcgan", "gan_mlp", "wgan_gp", "hinge_gan"])
def test_mnist_gan_networks_are_those_of_one_channel(model, tmp_path, mnist_dir):
    cfg = compose_train([f"model={model}"], tmp_path / "run", mnist_dir)
    assert cfg.model.generator.channels == 1 and cfg.model.discriminator.channels == 1
    built = instantiate(cfg.model.generator), instantiate(cfg.model.discriminator)
    without = [{k: v for k, v in cfg.model[part].items() if k != "channels"} for part in ("generator", "discriminator")]
    defaults = instantiate(without[0]), instantiate(without[1])  # the classes' grey default, as before the option
    assert [describe(network) for network in built] == [describe(network) for network in defaults]

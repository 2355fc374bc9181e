"""``python -m genmodels.sample``: samples of tiny VAE and GAN runs in each format, seeded; a conditional stand-in
model; reconstructions of given pictures; the refusals, and an ``out`` folder that a failure leaves as it was."""

from __future__ import annotations

import json
import math
from pathlib import Path

import lightning as L
import numpy as np
import pytest
import torch
from omegaconf import OmegaConf
from torch import nn
from torchvision.io import ImageReadMode, decode_image, encode_png

import genmodels
from genmodels.data.folder import FolderDataModule
from genmodels.evaluation.sample_quality import generate_samples
from genmodels.sample_files import MANIFEST, as_bytes, staged_folder
from tests import helpers
from tests.test_folder_data import make_shapes

NUM = 12


class ClassPainter(L.LightningModule):
    """A stand-in conditional model (GeneratesConditionally): every pixel of a sample of class y is y / (K - 1)."""

    def __init__(self, latent_dim: int = 2, num_classes: int = 3) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.latent_dim, self.num_classes = latent_dim, num_classes
        self.scale = nn.Parameter(torch.ones(()))

    @torch.no_grad()
    def generate(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return (self.scale * y / (self.num_classes - 1)).view(-1, 1, 1, 1).expand(len(z), 1, 8, 8)


@pytest.fixture(scope="module")
def painter_run(tiny_runs, tmp_path_factory) -> Path:
    """A run folder of ``ClassPainter``: the tiny VAE run's config with this model, and its checkpoint."""
    run = tmp_path_factory.mktemp("painter") / "run"
    config = OmegaConf.load(tiny_runs["vae"] / ".hydra" / "config.yaml")
    config.model = {"_target_": f"{__name__}.ClassPainter", "latent_dim": 2, "num_classes": 3}
    (run / ".hydra").mkdir(parents=True)
    OmegaConf.save(config, run / ".hydra" / "config.yaml")
    (run / "checkpoints").mkdir()
    model = ClassPainter()
    state = {"state_dict": model.state_dict(), "hyper_parameters": dict(model.hparams), "epoch": 0}
    torch.save(state, run / "checkpoints" / "last.ckpt")
    return run


def draw(run_main, run: Path, out: Path, *settings: str, check: bool = True):
    """The sample command on ``run`` into ``out``, without a progress bar."""
    return run_main("genmodels.sample", f"run_dir={run}", f"out={out}", "progress=false", *settings, check=check)


def npz_arrays(folder: Path, name: str = "samples.npz") -> dict[str, np.ndarray]:
    with np.load(folder / name, allow_pickle=False) as arrays:
        return dict(arrays)


def seeded_samples(run: Path, count: int, seed: int) -> torch.Tensor:
    """The reference: the loaded model's pictures of ``count`` codes from one generator seeded ``seed``, as uint8."""
    model = genmodels.load_run(run)
    z = torch.randn(count, model.latent_dim, generator=torch.Generator().manual_seed(seed))
    return model.generate(z).mul(255).add(0.5).clamp(0, 255).to(torch.uint8)


@pytest.mark.parametrize("kind", ["vae", "gan"])
def test_npz_holds_the_seeded_samples_of_the_model(run_main, tiny_runs, tmp_path, kind):
    draw(run_main, tiny_runs[kind], tmp_path / "a", f"num={NUM}", "format=npz", "seed=3", "batch_size=100")
    arrays = npz_arrays(tmp_path / "a")
    images = arrays["images"]
    assert images.dtype == np.uint8 and images.shape == (NUM, 1, 28, 28)
    assert images.min() < images.max()  # pictures, not a constant
    assert np.array_equal(images, seeded_samples(tiny_runs[kind], NUM, seed=3).numpy())
    scored = generate_samples(genmodels.load_run(tiny_runs[kind]), NUM, 100, 3, torch.device("cpu"))
    assert np.array_equal(images, as_bytes(scored).numpy())  # what genmodels.evaluate scores with that seed
    assert np.array_equal(arrays["labels"], np.full(NUM, -1))  # unconditional: no labels
    settings = json.loads(str(arrays["settings"]))
    assert settings["seed"] == 3 and settings["num"] == NUM and settings["run_dir"] == str(tiny_runs[kind])
    assert json.loads((tmp_path / "a" / MANIFEST).read_text())["model"] == {"vae": "VAE", "gan": "GAN"}[kind]

    draw(run_main, tiny_runs[kind], tmp_path / "b", f"num={NUM}", "format=npz", "seed=3", "batch_size=100")
    assert np.array_equal(npz_arrays(tmp_path / "b")["images"], images)  # one seed and batch size, one result
    draw(run_main, tiny_runs[kind], tmp_path / "c", f"num={NUM}", "format=npz", "seed=4")
    assert not np.array_equal(npz_arrays(tmp_path / "c")["images"], images)


@pytest.mark.parametrize("kind", ["vae", "gan"])
def test_png_writes_one_grey_picture_per_sample(run_main, tiny_runs, tmp_path, kind):
    draw(run_main, tiny_runs[kind], tmp_path / "out", f"num={NUM}", "batch_size=5", "seed=1")
    files = sorted((tmp_path / "out").glob("*.png"))
    assert [file.name for file in files] == [f"sample_{index:05d}.png" for index in range(NUM)]
    pictures = torch.stack([decode_image(str(file), mode=ImageReadMode.UNCHANGED) for file in files])
    assert pictures.shape == (NUM, 1, 28, 28) and pictures.dtype == torch.uint8
    draw(run_main, tiny_runs[kind], tmp_path / "npz", f"num={NUM}", "format=npz", "batch_size=5", "seed=1")
    assert torch.equal(pictures, torch.from_numpy(npz_arrays(tmp_path / "npz")["images"]))  # formats agree


@pytest.mark.parametrize("kind", ["vae", "gan"])
def test_grid_is_one_square_picture(run_main, tiny_runs, tmp_path, kind):
    draw(run_main, tiny_runs[kind], tmp_path / "out", "num=10", "format=grid")
    assert sorted(path.name for path in (tmp_path / "out").iterdir()) == [MANIFEST, "samples.png"]
    grid = decode_image(str(tmp_path / "out" / "samples.png"))
    side = math.ceil(math.sqrt(10))  # 4 x 3 tiles of 28 pixels, 2 pixels apart and around
    assert grid.shape == (3, 2 + 3 * 30, 2 + side * 30)


def test_a_conditional_model_draws_the_class_asked_for(run_main, painter_run, tmp_path):
    allowed = f"allowed_targets=[{__name__}.ClassPainter]"
    draw(run_main, painter_run, tmp_path / "two", "num=5", "label=2", "format=npz", allowed)
    arrays = npz_arrays(tmp_path / "two")
    assert arrays["labels"].tolist() == [2] * 5 and (arrays["images"] == 255).all()
    draw(run_main, painter_run, tmp_path / "all", "num=7", "format=npz", allowed)
    arrays = npz_arrays(tmp_path / "all")
    assert arrays["labels"].tolist() == [0, 1, 2, 0, 1, 2, 0]  # each class in turn
    assert arrays["images"][:, 0, 0, 0].tolist() == [0, 128, 255, 0, 128, 255, 0]
    draw(run_main, painter_run, tmp_path / "png", "num=4", "label=1", allowed)
    assert json.loads((tmp_path / "png" / MANIFEST).read_text())["labels"] == [1] * 4
    refused = draw(run_main, painter_run, tmp_path / "bad", "num=4", "label=3", allowed, check=False)
    assert refused.returncode == 1 and "error: label must be a class index from 0 to 2, got 3" in refused.stderr


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        (["num=0"], "error: num must be a positive integer, got 0"),
        ([], "error: num=<how many samples> is missing"),
        (["num=4", "format=jpeg"], "error: format must be one of ['png', 'npz', 'grid'], got 'jpeg'"),
        (["num=4", "label=3"], "error: label=3 needs a model that offers GeneratesConditionally"),
        (["reconstruct=nowhere"], "error: reconstruct=nowhere is neither a folder of pictures nor an .npz file"),
    ],
)
def test_a_wrong_setting_is_refused_in_one_line(run_main, tiny_runs, tmp_path, settings, message):
    result = draw(run_main, tiny_runs["vae"], tmp_path / "out", *settings, check=False)
    assert result.returncode == 1 and message in result.stderr and "Traceback" not in result.stderr
    assert "VAE has no num_classes" in result.stderr or "GeneratesConditionally" not in message
    assert not (tmp_path / "out").exists()


def test_a_missing_run_folder_is_refused(run_main, tmp_path):
    result = draw(run_main, tmp_path / "nothing", tmp_path / "out", "num=4", check=False)
    assert result.returncode == 1 and f"error: run folder {tmp_path / 'nothing'} does not exist" in result.stderr


def test_out_is_never_a_folder_of_other_files_or_the_run(run_main, tiny_runs, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    for overwrite in ("overwrite=false", "overwrite=true"):
        result = draw(run_main, tiny_runs["gan"], out, "num=4", overwrite, check=False)
        assert result.returncode == 1 and f"error: out={out} " in result.stderr
    assert [path.name for path in out.iterdir()] == ["notes.txt"]  # nothing lost, nothing added

    draw(run_main, tiny_runs["gan"], tmp_path / "samples", "num=4")
    draw(run_main, tiny_runs["gan"], tmp_path / "samples", "num=2", "format=grid", "overwrite=true")
    assert sorted(path.name for path in (tmp_path / "samples").iterdir()) == [MANIFEST, "samples.png"]

    inside = tiny_runs["gan"] / "samples"
    result = draw(run_main, tiny_runs["gan"], inside, "num=4", check=False)
    assert result.returncode == 1 and "lies inside the run folder" in result.stderr and not inside.exists()
    result = draw(run_main, tiny_runs["gan"], tiny_runs["gan"], "num=4", "write_into_run=true", check=False)
    assert result.returncode == 1 and "lies inside the run folder" in result.stderr


def test_a_failure_while_writing_leaves_out_as_it_was(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / MANIFEST).write_text("{}")
    with pytest.raises(KeyboardInterrupt), staged_folder(out) as staging:
        (staging / "sample_00000.png").write_bytes(b"partial")
        raise KeyboardInterrupt
    assert [path.name for path in tmp_path.iterdir()] == ["out"] and [p.name for p in out.iterdir()] == [MANIFEST]


def test_a_vae_reconstructs_pictures_of_any_square_size(run_main, tiny_runs, tmp_path):
    digits = seeded_samples(tiny_runs["gan"], 3, seed=0)  # (3, 1, 28, 28) uint8 pictures
    pictures = tmp_path / "pictures"
    pictures.mkdir()
    for index, digit in enumerate(digits):  # grey 28 x 28, and the same digit as a colour picture
        (pictures / f"{index}.png").write_bytes(encode_png(digit).numpy().tobytes())
    (pictures / "3.png").write_bytes(encode_png(digits[0].expand(3, 28, 28)).numpy().tobytes())
    draw(run_main, tiny_runs["vae"], tmp_path / "out", f"reconstruct={pictures}", "format=npz")
    arrays = npz_arrays(tmp_path / "out", "reconstructions.npz")
    assert arrays["images"].shape == arrays["inputs"].shape == (4, 1, 28, 28) and arrays["images"].dtype == np.uint8
    assert np.array_equal(arrays["inputs"], torch.cat([digits, digits[:1]]).numpy())  # colour -> grey as given
    model = genmodels.load_run(tiny_runs["vae"])
    expected = model.reconstruct(digits.float().div(255)).mul(255).add(0.5).clamp(0, 255).to(torch.uint8)
    assert np.array_equal(arrays["images"][:3], expected.numpy())
    assert json.loads((tmp_path / "out" / MANIFEST).read_text())["inputs"] == ["0.png", "1.png", "2.png", "3.png"]

    classes = tmp_path / "classes" / "4"  # class subfolders: an unconditional model needs no classes
    classes.mkdir(parents=True)
    (classes / "a.png").write_bytes((pictures / "0.png").read_bytes())
    draw(run_main, tiny_runs["vae"], tmp_path / "classes_out", f"reconstruct={classes.parent}", "format=npz")
    assert json.loads((tmp_path / "classes_out" / MANIFEST).read_text())["inputs"] == ["4/a.png"]
    refused = draw(run_main, tiny_runs["vae"], tmp_path / "no", f"reconstruct={pictures}", "label=1", check=False)
    assert (
        refused.returncode == 1 and "error: label=1 needs a model that offers GeneratesConditionally" in refused.stderr
    )

    np.savez(tmp_path / "big.npz", images=np.zeros((2, 3, 56, 56), np.uint8))  # resized to the model's 28
    draw(run_main, tiny_runs["vae"], tmp_path / "big", f"reconstruct={tmp_path / 'big.npz'}", "num=1")
    assert [path.name for path in sorted((tmp_path / "big").iterdir())] == ["reconstruction_00000.png", MANIFEST]


@pytest.mark.parametrize(
    ("array", "message"),
    [
        (np.zeros((2, 28, 30), np.uint8), "the images are 28x30, not square"),
        (np.zeros((2, 28, 28), np.float32), "'images' is float32 of shape (2, 28, 28); expected uint8"),
    ],
)
def test_pictures_that_do_not_fit_are_refused(run_main, tiny_runs, tmp_path, array, message):
    np.savez(tmp_path / "pictures.npz", images=array)
    result = draw(run_main, tiny_runs["vae"], tmp_path / "out", f"reconstruct={tmp_path / 'pictures.npz'}", check=False)
    assert result.returncode == 1 and message in result.stderr and not (tmp_path / "out").exists()


def test_a_gan_does_not_reconstruct(run_main, tiny_runs, tmp_path):
    np.savez(tmp_path / "pictures.npz", images=np.zeros((2, 28, 28), np.uint8))
    result = draw(run_main, tiny_runs["gan"], tmp_path / "out", f"reconstruct={tmp_path / 'pictures.npz'}", check=False)
    assert result.returncode == 1 and "needs a model that offers ReconstructsImages" in result.stderr
    assert "GAN has no reconstruct" in result.stderr


def test_a_colour_vae_reconstructs_pictures_in_colour_as_its_data_module_reads_them(tmp_path):
    shapes = make_shapes(tmp_path / "shapes", per_class=4)  # RGB pictures of several sizes, PNG and JPEG
    run = tmp_path / "run"
    folder_run = ["data=folder", f"data.path={shapes}", "data.image_size=32", "data.val_fraction=0.25"]
    helpers.run_main("genmodels.train", *folder_run, "debug=tiny", f"hydra.run.dir={run}", data=tmp_path)
    pictures = shapes / "green_circles"  # loose pictures, several sizes: resized and centre-cropped to 32
    out = tmp_path / "out"
    helpers.run_main(
        "genmodels.sample", f"run_dir={run}", f"out={out}", f"reconstruct={pictures}", "format=npz", data=tmp_path
    )
    arrays = npz_arrays(out, "reconstructions.npz")
    assert arrays["images"].shape == arrays["inputs"].shape == (4, 3, 32, 32)
    for picture in (arrays["inputs"], arrays["images"]):  # colour, not grey repeated
        assert (picture[:, 0] != picture[:, 1]).any() and (picture[:, 1] != picture[:, 2]).any()
    datamodule = FolderDataModule(
        str(pictures), cache_dir=str(tmp_path / "cache"), image_size=32, val_fraction=0.25, test_fraction=0.25
    )
    datamodule.setup()
    read = torch.cat([datamodule.splits[split].images for split in ("train", "val", "test")])
    assert sorted(image.tobytes() for image in arrays["inputs"]) == sorted(image.numpy().tobytes() for image in read)
    model = genmodels.load_run(run)
    expected = as_bytes(model.reconstruct(torch.from_numpy(arrays["inputs"]).float().div(255)))
    assert np.array_equal(arrays["images"], expected.numpy())

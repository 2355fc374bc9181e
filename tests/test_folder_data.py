"""data=folder: a generated folder of coloured shapes (class subfolders, PNG and JPEG, several sizes) through
listing, labelling, splitting, decoding, the cache, the errors and the training command."""

import os
from pathlib import Path

import pytest
import torch
from hydra.utils import instantiate
from PIL import Image, ImageDraw

from genmodels.data import folder_cache
from genmodels.data.folder import FolderDataModule, split_indices
from genmodels.errors import ConfigError, DataError
from tests.helpers import compose_train, run_main

# class -> (colour, the shape drawn); every image gets a white background
SHAPES = {"blue_triangles": (0, 0, 255), "green_circles": (0, 255, 0), "red_squares": (255, 0, 0)}
SIZES = [(40, 40), (48, 36), (36, 52), (64, 64)]  # width, height: square, landscape, portrait


def draw_shape(name: str, size: tuple[int, int]) -> Image.Image:
    """A white image with the class's shape, in its colour, filling the centre square's middle."""
    image = Image.new("RGB", size, "white")
    side, (width, height) = min(size), size
    box = [(width - side) // 2 + side // 5, (height - side) // 2 + side // 5]
    box += [box[0] + 3 * side // 5, box[1] + 3 * side // 5]
    draw, colour = ImageDraw.Draw(image), SHAPES[name]
    if name == "red_squares":
        draw.rectangle(box, fill=colour)
    elif name == "green_circles":
        draw.ellipse(box, fill=colour)
    else:
        draw.polygon([(box[0], box[3]), ((box[0] + box[2]) // 2, box[1]), (box[2], box[3])], fill=colour)
    return image


def make_shapes(root: Path, per_class: int = 8, split: str = "") -> Path:
    """``per_class`` images of each class under ``root/<split>/<class>/``, alternately PNG and JPEG."""
    for name in SHAPES:
        folder = root / split / name
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            draw_shape(name, SIZES[i % len(SIZES)]).save(folder / f"{i:02d}.{'png' if i % 2 else 'jpg'}")
    return root


@pytest.fixture
def shapes(tmp_path: Path) -> Path:
    return make_shapes(tmp_path / "shapes")


def module(root: Path, tmp_path: Path, **options) -> FolderDataModule:
    dm = FolderDataModule(str(root), cache_dir=str(tmp_path / "cache"), **options)
    dm.setup()
    return dm


def test_colour_images_labelled_by_subfolder(shapes, tmp_path):
    dm = module(shapes, tmp_path, image_size=32)
    assert dm.channels == 3 and dm.num_classes == 3 and dm.classes == tuple(sorted(SHAPES))
    images = torch.cat([dm.splits[s].images for s in ("train", "val", "test")])
    labels = torch.cat([dm.splits[s].labels for s in ("train", "val", "test")])
    assert images.shape == (24, 3, 32, 32) and images.dtype == torch.uint8 and labels.dtype == torch.int64
    assert torch.bincount(labels).tolist() == [8, 8, 8]
    # The centre pixel of every image is its class's colour (JPEG: approximately).
    centre = images[:, :, 16, 16].float()
    expected = torch.tensor([SHAPES[dm.classes[label]] for label in labels]).float()
    assert (centre - expected).abs().max() < 40
    x, y = dm.on_after_batch_transfer(next(iter(dm.train_dataloader())), 0)
    assert x.shape == (len(dm.splits["train"]), 3, 32, 32) and x.dtype == torch.float32 and 0 <= x.min() <= x.max() <= 1


def test_shorter_side_resized_then_centre_cropped(tmp_path):
    root = tmp_path / "stripes"
    root.mkdir()
    image = Image.new("RGB", (60, 20), "black")  # three 20x20 squares: black, white, black
    image.paste((255, 255, 255), (20, 0, 40, 20))
    image.save(root / "wide.png")
    images = folder_cache.decode_images(root, [_file(root, "wide.png")], 10, 3)
    assert images.shape == (1, 3, 10, 10) and images[..., 1:-1].min() == 255  # the white middle (edges blurred)


def test_grey_files_give_one_channel_and_colour_can_be_turned_grey(tmp_path, shapes):
    grey = tmp_path / "grey"
    grey.mkdir()
    for i in range(10):
        Image.new("L", (32, 32), 20 * i).save(grey / f"{i}.png")
    dm = module(grey, tmp_path, image_size=32)
    assert dm.channels == 1 and dm.num_classes is None and dm.splits["train"].images.shape[1:] == (1, 32, 32)
    assert set(torch.cat([s.labels for s in dm.splits.values()]).tolist()) == {-1}
    assert module(shapes, tmp_path, image_size=32, channels=1).splits["train"].images.shape[1] == 1


def test_split_is_seeded_disjoint_and_complete():
    splits = split_indices((None,) * 50, 0.2, 0.1, seed=0)
    sizes = {name: len(index) for name, index in splits.items()}
    assert sizes == {"train": 35, "val": 10, "test": 5}
    assert sorted(torch.cat(list(splits.values())).tolist()) == list(range(50))
    again, other = split_indices((None,) * 50, 0.2, 0.1, seed=0), split_indices((None,) * 50, 0.2, 0.1, seed=1)
    assert all(torch.equal(splits[name], again[name]) for name in splits)
    assert not torch.equal(splits["val"], other["val"])


def test_split_module_is_deterministic(shapes, tmp_path):
    first, second = module(shapes, tmp_path), module(shapes, tmp_path)
    for name in ("train", "val", "test"):
        assert torch.equal(first.splits[name].images, second.splits[name].images)
    assert {name: len(split) for name, split in first.splits.items()} == {"train": 20, "val": 2, "test": 2}


def test_train_val_test_folders_fix_the_split(tmp_path):
    root = tmp_path / "presplit"
    make_shapes(root, per_class=4, split="train")
    make_shapes(root, per_class=1, split="test")
    dm = module(root, tmp_path, val_fraction=0.25)  # no val/ folder: a quarter of train/
    assert {name: len(split) for name, split in dm.splits.items()} == {"train": 9, "val": 3, "test": 3}
    assert dm.splits["test"].labels.tolist() == [0, 1, 2] and dm.num_classes == 3


def test_second_setup_reads_the_cache_and_a_changed_file_is_decoded_again(shapes, tmp_path, monkeypatch):
    decoded = []
    decode = folder_cache.decode_images
    monkeypatch.setattr(folder_cache, "decode_images", lambda *args: decoded.append(len(args[1])) or decode(*args))
    first = module(shapes, tmp_path)
    second = module(shapes, tmp_path)
    assert decoded == [24] and torch.equal(first.splits["train"].images, second.splits["train"].images)
    changed = shapes / "red_squares" / "00.jpg"
    draw_shape("green_circles", (40, 40)).save(changed)
    os.utime(changed, ns=(changed.stat().st_atime_ns, changed.stat().st_mtime_ns + 10**9))
    module(shapes, tmp_path)
    assert decoded == [24, 24]
    assert len(list((tmp_path / "cache").glob("*.pt"))) == 1  # the stale cache was removed


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda root: None, "does not exist. Fix: data.path="),
        (lambda root: (root / "notes").mkdir(parents=True) or (root / "notes" / "a.txt").write_text("x"), "no images"),
    ],
)
def test_missing_or_empty_folder(tmp_path, make, message):
    make(tmp_path / "images")
    with pytest.raises(DataError, match=message):
        module(tmp_path / "images", tmp_path)


def test_unreadable_files_are_named_and_counted(shapes, tmp_path):
    for i in range(5):
        (shapes / "red_squares" / f"broken{i}.png").write_bytes(b"not an image")
    with pytest.raises(DataError) as error:
        module(shapes, tmp_path)
    message = str(error.value)
    assert message.startswith("5 files under") and "red_squares/broken0.png" in message and "and 2 more" in message
    assert "\n" not in message and "Fix:" in message


def test_images_smaller_than_the_size_are_named_with_the_fix(shapes, tmp_path):
    with pytest.raises(DataError, match=r"smaller than data.image_size=48.*00.jpg \(40x40\).*Fix: a smaller"):
        module(shapes, tmp_path, image_size=48)


def test_loose_images_beside_class_folders_and_a_missing_path(shapes, tmp_path):
    draw_shape("red_squares", (40, 40)).save(shapes / "loose.png")
    with pytest.raises(DataError, match="1 images under .* lie outside class subfolders"):
        module(shapes, tmp_path)
    with pytest.raises(ConfigError, match="data.path=<folder>"):
        FolderDataModule(None)


def test_config_detects_the_channels_and_trains(shapes, tmp_path):
    cfg = compose_train(["data=folder", f"data.path={shapes}"], tmp_path / "run", tmp_path)
    assert cfg.data.channels == 3 and cfg.data.image_size == 32
    assert isinstance(instantiate(cfg.data), FolderDataModule)
    # The VAE takes its channels from the data: RGB end to end.
    args = ["data=folder", f"data.path={shapes}", "debug=tiny", f"hydra.run.dir={tmp_path}/r"]
    result = run_main("genmodels.train", *args, "trainer.accelerator=cpu", data=tmp_path)
    assert "Decoded 24 images" in result.stderr + result.stdout and (tmp_path / "r" / "metrics.json").exists()


def test_a_gan_on_a_folder_without_labels_says_how_to_train(tmp_path):
    loose = tmp_path / "loose"
    loose.mkdir()
    for i, name in enumerate(SHAPES):
        draw_shape(name, (40, 40)).save(loose / f"{i}.png")
    args = ["model=lean_gan", "data=folder", f"data.path={loose}", "data.image_size=32", "debug=tiny"]
    args += ["data.val_fraction=0.34", "data.test_fraction=0.34"]
    result = run_main("genmodels.train", *args, f"hydra.run.dir={tmp_path}/r", data=tmp_path, check=False)
    assert result.returncode == 1
    assert "folder loose has none (no class subfolders). Fix: leave it out with ~callbacks.sample_quality" in (
        result.stderr
    )


def _file(root: Path, name: str):
    from genmodels.data.image_files import ImageFile

    stat = (root / name).stat()
    return ImageFile(name, stat.st_size, stat.st_mtime_ns)

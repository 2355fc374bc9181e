"""The cost of ``data=folder`` on a CIFAR-sized set (docs/own_data.md): decoding a generated folder of RGB PNGs once,
reading the cache back, and an epoch of the training loader alone (batches gathered and transformed, no model),
beside an MNIST epoch of the same loader.

    python benchmarks/folder_data.py --folder /tmp/rgb50k --images 50000 --size 32

The folder is generated first if it does not exist (``--classes`` subfolders of random-colour PNGs).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import torch
from PIL import Image

from genmodels.data.datamodule import InMemoryImages
from genmodels.data.folder import FolderDataModule
from genmodels.data.mnist import MNISTDataModule


def generate(folder: Path, images: int, size: int, classes: int) -> None:
    """``images`` PNGs of random colours, ``size`` squared, spread over ``classes`` subfolders."""
    generator = torch.Generator().manual_seed(0)
    for index in range(images):
        subfolder = folder / f"class_{index % classes}"
        subfolder.mkdir(parents=True, exist_ok=True)
        pixels = torch.randint(0, 256, (size, size, 3), dtype=torch.uint8, generator=generator).numpy()
        Image.fromarray(pixels).save(subfolder / f"{index:05d}.png")


def timed(action) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def epoch_seconds(datamodule: InMemoryImages) -> float:
    """One pass over the training loader, each batch transformed as in training (on the CPU)."""

    def one_epoch() -> None:
        for batch in datamodule.train_dataloader():
            datamodule.on_after_batch_transfer(batch, 0)

    return timed(one_epoch)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--folder", type=Path, required=True, help="the image folder (generated if absent)")
    parser.add_argument("--images", type=int, default=50000)
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--classes", type=int, default=10)
    parser.add_argument("--mnist-dir", default=os.environ.get("GENMODELS_DATA_DIR", "data"), help="for the MNIST epoch")
    args = parser.parse_args()
    if not args.folder.exists():
        seconds = timed(lambda: generate(args.folder, args.images, args.size, args.classes))
        print(f"generating {args.images} RGB {args.size}x{args.size} PNGs: {seconds:.1f} s")
    with tempfile.TemporaryDirectory() as cache_dir:

        def folder_module() -> FolderDataModule:
            return FolderDataModule(str(args.folder), cache_dir=cache_dir, image_size=args.size, batch_size=128)

        first, second = folder_module(), folder_module()
        print(f"first setup (list, detect channels, decode, write the cache): {timed(first.setup):.1f} s")
        print(f"second setup (list, read the cache): {timed(second.setup):.1f} s")
        train_images = len(second.splits["train"])
        print(f"an epoch of the folder's training loader ({train_images} images): {epoch_seconds(second):.2f} s")
    mnist = MNISTDataModule(data_dir=args.mnist_dir, batch_size=128)
    mnist.setup()
    print(f"an epoch of MNIST's training loader ({len(mnist.splits['train'])} images): {epoch_seconds(mnist):.2f} s")


if __name__ == "__main__":
    main()

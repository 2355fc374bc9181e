"""The cost of ``data=folder`` on a CIFAR-sized set (docs/own_data.md): decoding a generated folder of RGB PNGs once,
reading the cache back, an epoch of the training loader alone (batches gathered and transformed, no model), and the
conv VAE's training steps (``model=conv_vae``: the discretized logistic on the folder, the Bernoulli on MNIST), each
beside MNIST's in the same process: on a loaded machine only the ratios mean something.

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
from genmodels.models.conv_vae import ConvDecoder, ConvEncoder
from genmodels.models.vae import VAE


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


def conv_vae_step_seconds(datamodule: InMemoryImages, likelihood: str, steps: int) -> float:
    """Seconds per training image of ``model=conv_vae`` (latent 20, widths [32, 64], Adam) on the data's batches,
    after one warm-up step."""
    torch.manual_seed(0)
    side, channels = datamodule.image_size, datamodule.channels
    encoder = ConvEncoder(20, [32, 64], image_size=side, channels=channels)
    decoder = ConvDecoder(20, [32, 64], image_size=side, channels=channels, likelihood=likelihood)
    model = VAE(encoder, decoder, latent_dim=20, likelihood=likelihood)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    batches = iter(datamodule.train_dataloader())

    def step() -> None:
        x, _ = datamodule.on_after_batch_transfer(next(batches), 0)
        loss = model.training_loss(model.loss_terms(x))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    step()
    return timed(lambda: [step() for _ in range(steps)]) / (steps * datamodule.batch_size)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--folder", type=Path, required=True, help="the image folder (generated if absent)")
    parser.add_argument("--images", type=int, default=50000)
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--classes", type=int, default=10)
    parser.add_argument("--steps", type=int, default=50, help="timed conv VAE training steps (batch 128) per dataset")
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
        folder_images = len(second.splits["train"])
        folder_loader = epoch_seconds(second)
        folder_step = conv_vae_step_seconds(second, "discretized_logistic", args.steps)
    mnist = MNISTDataModule(data_dir=args.mnist_dir, batch_size=128)
    mnist.setup()
    mnist_images = len(mnist.splits["train"])
    mnist_loader, mnist_step = epoch_seconds(mnist), conv_vae_step_seconds(mnist, "bernoulli", args.steps)
    print(f"an epoch of the folder's training loader ({folder_images} images): {folder_loader:.2f} s")
    print(f"an epoch of MNIST's training loader ({mnist_images} images): {mnist_loader:.2f} s")
    print(f"conv VAE step, folder (3x{args.size}x{args.size}, discretized logistic): {1e3 * folder_step:.3f} ms/image")
    print(f"conv VAE step, MNIST (1x28x28, Bernoulli): {1e3 * mnist_step:.3f} ms/image")
    folder_epoch, mnist_epoch = folder_images * folder_step, mnist_images * mnist_step
    ratio = folder_epoch / mnist_epoch
    print(f"conv VAE epoch, folder / MNIST: {ratio:.2f} ({folder_epoch:.0f} s / {mnist_epoch:.0f} s at this load)")


if __name__ == "__main__":
    main()

"""The datasets: fetching and verifying files (MNIST-like IDX, the CIFAR-10 archive), image folders, and the
in-memory Lightning data modules that serve them."""

from genmodels.data.datamodule import InMemoryImages, TensorImages
from genmodels.data.idx import parse_idx, read_idx
from genmodels.data.mnist import MNISTDataModule
from genmodels.data.provision import DATASETS, ensure_dataset
from genmodels.errors import DataError

__all__ = [
    "DATASETS",
    "DataError",
    "InMemoryImages",
    "MNISTDataModule",
    "TensorImages",
    "ensure_dataset",
    "parse_idx",
    "read_idx",
]

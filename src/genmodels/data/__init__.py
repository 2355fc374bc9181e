"""MNIST-like data: fetching and verifying the files, parsing IDX, and the Lightning data module."""

from genmodels.data.datamodule import MNISTDataModule, TensorImages
from genmodels.data.idx import parse_idx, read_idx
from genmodels.data.provision import DATASETS, ensure_dataset
from genmodels.errors import DataError

__all__ = ["DATASETS", "DataError", "MNISTDataModule", "TensorImages", "ensure_dataset", "parse_idx", "read_idx"]

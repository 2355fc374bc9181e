"""Fetch and verify a dataset: ``python -m genmodels.data --dataset mnist --data-dir data``."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from genmodels import PROJECT_ROOT
from genmodels.data.provision import DATASETS, dataset_spec, ensure_dataset
from genmodels.data.sources import LocalFolder, default_sources
from genmodels.errors import DataError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m genmodels.data", description="Fetch a dataset and verify the md5 checksum of every file."
    )
    parser.add_argument("--dataset", choices=sorted(DATASETS), default="mnist", help="the dataset (default: mnist)")
    parser.add_argument(
        "--data-dir",
        default=os.environ.get("GENMODELS_DATA_DIR", str(PROJECT_ROOT / "data")),
        help="folder that holds <dataset>/raw/ (default: GENMODELS_DATA_DIR, else data/ in this checkout)",
    )
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds for the normal download (default: 10)")
    parser.add_argument("--from", dest="folder", type=Path, help="copy the files from this folder instead")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    sources = [LocalFolder(args.folder)] if args.folder else default_sources(dataset_spec(args.dataset))
    try:
        folder = ensure_dataset(args.dataset, args.data_dir, timeout=args.timeout, sources=sources)
    except DataError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"{args.dataset}: all files present with the official md5 in {folder}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Checksums of files, for verifying data sets and downloaded or cached weights."""

from __future__ import annotations

import hashlib
from pathlib import Path


def file_digest(path: Path, algorithm: str) -> str:
    """The hex digest of a file's bytes (``algorithm``: md5, sha1, sha256, ...), read in chunks."""
    with Path(path).open("rb") as handle:
        return hashlib.file_digest(handle, algorithm).hexdigest()

"""Reading the IDX file format that MNIST and Fashion-MNIST are distributed in."""

from __future__ import annotations

import gzip
import math
from pathlib import Path

import torch

from genmodels.errors import DataError

# The third byte of an IDX header names the element type; MNIST-like files only use unsigned bytes.
_UNSIGNED_BYTE = 0x08


class IDXFormatError(DataError):
    """Raised when a file is not a well-formed IDX file of unsigned bytes."""


def parse_idx(raw: bytes, source: str = "<bytes>") -> torch.Tensor:
    """Parse the bytes of an IDX file into a uint8 tensor of the shape its header declares."""
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise IDXFormatError(f"{source}: not an IDX file (bad magic number)")
    if raw[2] != _UNSIGNED_BYTE:
        raise IDXFormatError(f"{source}: element type 0x{raw[2]:02x} is not unsigned byte (0x08)")
    ndim = raw[3]
    header_size = 4 + 4 * ndim
    if len(raw) < header_size:
        raise IDXFormatError(f"{source}: truncated header")
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    expected = header_size + math.prod(shape)
    if len(raw) != expected:
        raise IDXFormatError(
            f"{source}: {len(raw)} bytes, but its header {shape} implies {expected} (truncated or padded file)"
        )
    return torch.frombuffer(bytearray(raw[header_size:]), dtype=torch.uint8).reshape(shape)


def read_idx(path: Path) -> torch.Tensor:
    """Read an IDX file (optionally gzip-compressed) into a uint8 tensor."""
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    return parse_idx(raw, source=str(path))

"""Start-up checks on configuration values, failing with the key and the allowed values."""

from __future__ import annotations


def require_positive_int(key: str, value: object) -> None:
    """Raise ``ValueError`` unless ``value`` is an integer >= 1."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{key} must be a positive integer (1, 2, ...), got {value!r}")

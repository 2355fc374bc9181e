"""Numbers, durations and tables as every command prints and writes them (evaluate, compare, report, training)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence


def format_number(value: float, digits: int | None = None) -> str:
    """``digits`` decimals; by default two from 10 up and four below (a precision of 0.9927, an NLL of 101.53)."""
    if digits is None:
        digits = 2 if abs(value) >= 10 else 4
    return f"{value:.{digits}f}"


def format_duration(seconds: float) -> str:
    """'45 s', '12 min', '3 h 05 min'."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    minutes = round(seconds / 60)
    return f"{minutes} min" if minutes < 60 else f"{minutes // 60} h {minutes % 60:02d} min"


def markdown_table(header: Sequence[str], rows: Iterable[Sequence[object]]) -> list[str]:
    """The lines of a Markdown table; ``None`` cells are left empty."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join("" if cell is None else str(cell) for cell in row) + " |" for row in rows]
    return lines

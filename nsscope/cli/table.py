"""Plain-text tables in the util-linux style (lsns, lsblk): numbers right-aligned."""

from __future__ import annotations

import os
import sys

from nsscope.printable import safe

# collections.abc costs ~2 ms of every view's start-up; mypy treats any
# TYPE_CHECKING as true
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence


def terminal_columns() -> int:
    """shutil.get_terminal_size().columns, without importing shutil (~10 ms of start-up
    with the compression modules it loads): $COLUMNS, else the terminal's width, else 80."""
    try:
        columns = int(os.environ["COLUMNS"])
    except (KeyError, ValueError):
        columns = 0
    if columns > 0:
        return columns
    try:
        return os.get_terminal_size(sys.__stdout__.fileno()).columns or 80  # type: ignore[union-attr]
    except (AttributeError, ValueError, OSError):
        return 80


def render(headers: Sequence[str], rows: Sequence[Sequence[object]],
           right: Sequence[bool] | None = None, *, width: int | None = None) -> str:
    """Columns padded to their widest cell; the last column is cut to the terminal.
    Every cell is escaped (printable.safe): names and command lines are untrusted."""
    right = right or [False] * len(headers)
    cells = [[("" if c is None else safe(str(c))) for c in row] for row in rows]
    widths = [len(h) for h in headers]
    for row in cells:
        for i, c in enumerate(row[:-1]):
            widths[i] = max(widths[i], len(c))
    if width is None and sys.stdout.isatty():
        width = terminal_columns()

    def line(row: Sequence[str]) -> str:
        parts = []
        for i, c in enumerate(row):
            if i == len(row) - 1:
                parts.append(c)
            elif right[i]:
                parts.append(c.rjust(widths[i]))
            else:
                parts.append(c.ljust(widths[i]))
        out = " ".join(parts)
        return out[:width] if width else out

    lines = [line(list(headers))] + [line(r) for r in cells]
    return "\n".join(lines)


def human_bytes(n: int | None) -> str:
    if n is None:
        return "max"
    for unit in ("B", "K", "M", "G", "T"):
        if abs(n) < 1024 or unit == "T":
            return f"{n:.0f}{unit}" if unit == "B" or n == int(n) else f"{n:.1f}{unit}"
        n = n / 1024  # type: ignore[assignment]
    return str(n)


def human_usec(us: int | None) -> str:
    if us is None:
        return "-"
    if us < 1000:
        return f"{us}µs"
    if us < 1_000_000:
        return f"{us / 1000:.1f}ms"
    return f"{us / 1_000_000:.2f}s"

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
    return _terminal("COLUMNS", 0, 80)


def terminal_lines() -> int:
    """shutil.get_terminal_size().lines, likewise: $LINES, else the terminal's height,
    else 24."""
    return _terminal("LINES", 1, 24)


def _terminal(variable: str, index: int, default: int) -> int:
    try:
        size = int(os.environ[variable])
    except (KeyError, ValueError):
        size = 0
    if size > 0:
        return size
    try:
        return os.get_terminal_size(sys.__stdout__.fileno())[index] or default  # type: ignore[union-attr]
    except (AttributeError, ValueError, OSError):
        return default


def fit(headers: Sequence[str], rows: Sequence[Sequence[object]],
        shrink: Sequence[int | None], width: int) -> list[list[str]]:
    """The rows escaped (printable.safe), with the cells of the columns that may shrink
    (``shrink[i]``: the narrowest that column may become; None: never cut) cut with "…"
    until a line fits ``width`` (as docker ps cuts COMMAND, lsblk its columns). The
    widest shrinkable column gives first. For ``render(..., escaped=True)``."""
    cells = [[("" if c is None else safe(str(c))) for c in row] for row in rows]
    widths = [len(h) for h in headers]
    for row in cells:
        for i, c in enumerate(row):
            widths[i] = max(widths[i], len(c))
    excess = sum(widths) + len(widths) - 1 - width
    while excess > 0:
        give = [(widths[i] - m, i) for i, m in enumerate(shrink)
                if m is not None and widths[i] > max(m, len(headers[i]))]
        if not give:
            break
        _, i = max(give)
        widths[i] -= 1
        excess -= 1
    return [[c if len(c) <= widths[i] else c[:widths[i] - 1] + "…" for i, c in enumerate(row)]
            for row in cells]


def render(headers: Sequence[str], rows: Sequence[Sequence[object]],
           right: Sequence[bool] | None = None, *, width: int | None = None,
           escaped: bool = False) -> str:
    """Columns padded to their widest cell; the last column is cut to the terminal
    (``width``; 0: never cut). Every cell is escaped (printable.safe): names and command
    lines are untrusted; ``escaped``: the rows come from ``fit``, escaped already."""
    right = right or [False] * len(headers)
    cells = [_cells(row, escaped) for row in rows]
    widths = [len(h) for h in headers]
    n = len(headers)
    if all(len(row) == n for row in cells):
        # column by column in C (zip, map): nsscope top writes a thousand rows a refresh
        for i, column in enumerate(list(zip(*cells, strict=True))[:-1]):
            widths[i] = max(widths[i], *map(len, column))
    else:
        for row in cells:
            for i, c in enumerate(row[:-1]):
                widths[i] = max(widths[i], len(c))
    if width is None and sys.stdout.isatty():
        width = terminal_columns()
    # one format for every full row: a row is one str.format call, not a call per cell
    fmt = " ".join([*(f"{{:{'>' if right[i] else '<'}{widths[i]}}}" for i in range(n - 1)),
                    "{}"])

    def line(row: Sequence[str]) -> str:
        if len(row) == n:
            out = fmt.format(*row)
        else:
            last = len(row) - 1
            out = " ".join(c if i == last else c.rjust(widths[i]) if right[i]
                           else c.ljust(widths[i]) for i, c in enumerate(row))
        return out[:width] if width else out

    lines = [line(list(headers))] + [line(r) for r in cells]
    return "\n".join(lines)


def _cells(row: Sequence[object], escaped: bool) -> list[str]:
    """A row's cells as text, escaped (printable.safe) unless ``escaped``."""
    text = ["" if c is None else str(c) for c in row]
    if escaped:
        return text
    joined = "".join(text)
    if joined.isprintable() and "\\x" not in joined:
        return text  # every cell is (one check for the row instead of one per cell)
    return [safe(c) for c in text]


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

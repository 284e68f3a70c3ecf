"""Small readers of runtime state files and process attributes; a file that cannot
be read is None (the container keeps what else is known of it).
"""

from __future__ import annotations

import os

# `typing` and collections.abc cost ~4 ms of start-up; mypy treats any
# TYPE_CHECKING as true
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable
    from typing import Any

# --- small readers --------------------------------------------------------------

def read_text(path: str) -> str | None:
    try:
        with open(path, "rb") as f:
            return f.read().decode("utf-8", "replace")
    except OSError:
        return None


def read_json(path: str) -> Any:
    text = read_text(path)
    if text is None:
        return None
    # json.loads without importing json (nsscope/jsontext.py); imported here, where a
    # state file was found: `nsscope ls` imports this module for StatePaths only
    from nsscope.jsontext import loads
    try:
        return loads(text)
    except ValueError:
        return None


def rfc3339(text: str) -> float | None:
    """Seconds since the epoch of an RFC 3339 time as Go's time.Time marshals it
    ("2024-05-01T12:34:56.123456789Z", "…+02:00"); None for Go's zero time
    ("0001-01-01T00:00:00Z": never) or anything else. By hand: datetime's
    fromisoformat takes no nanoseconds before Python 3.11, and the views' fast path
    imports neither datetime nor re."""
    try:
        date, _, clock = text.partition("T")
        y, mo, d = (int(x) for x in date.split("-"))
        if clock.endswith("Z"):
            clock, offset = clock[:-1], 0
        else:
            sign = 1 if "+" in clock else -1
            clock, _, tz = clock.replace("-", "+").partition("+")
            hh, _, mm = tz.partition(":")
            offset = sign * (int(hh) * 3600 + int(mm) * 60)
        hms, _, frac = clock.partition(".")
        h, mi, s = (int(x) for x in hms.split(":"))
    except ValueError:
        return None
    if y <= 1:
        return None
    # days from the civil date (Howard Hinnant's days_from_civil, proleptic Gregorian)
    y -= mo <= 2
    era = y // 400
    yoe = y - era * 400
    doy = (153 * (mo + (-3 if mo > 2 else 9)) + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    days = era * 146097 + doe - 719468
    fraction = float("0." + frac) if frac.isdigit() else 0.0
    return days * 86400 + h * 3600 + mi * 60 + s + fraction - offset


def environ(proc: str, pid: int) -> dict[str, str]:
    text = read_text(f"{proc}/{pid}/environ")
    out: dict[str, str] = {}
    for item in (text or "").split("\0"):
        k, sep, v = item.partition("=")
        if sep:
            out[k] = v
    return out


def readlink(path: str) -> str | None:
    try:
        return os.readlink(path)
    except OSError:
        return None


def option(argv: Iterable[str], *names: str) -> str | None:
    """The value of an option given as ``-n VALUE``, ``--name VALUE`` or ``--name=VALUE``."""
    args = list(argv)
    for i, a in enumerate(args):
        for n in names:
            if a == n and i + 1 < len(args):
                return args[i + 1]
            if n.startswith("--") and a.startswith(n + "="):
                return a[len(n) + 1:]
    return None


def basename(argv0: str) -> str:
    return argv0.rsplit("/", 1)[-1]



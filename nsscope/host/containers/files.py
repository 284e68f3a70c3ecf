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



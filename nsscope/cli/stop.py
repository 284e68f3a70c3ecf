"""``nsscope stop [-t SECS] CONTAINER…``: SIGTERM to PID 1, SIGKILL after the timeout."""

from __future__ import annotations

import argparse

from nsscope.actions.run import lifecycle
from nsscope.host import runstate


def seconds(text: str) -> float:
    """-t SECS: a finite number from 0 to a day, checked before any signal is sent."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not 0 <= value <= 86400:  # also refuses nan and inf
        raise argparse.ArgumentTypeError(f"-t must be from 0 to 86400 seconds, not {text!r}")
    return value


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.description = ("Send SIGTERM to the container's PID 1 and SIGKILL after SECS. Without "
                     "--init, PID 1 ignores SIGTERM unless CMD handles it: stop then takes SECS.")
    p.add_argument("-t", "--time", type=seconds, default=10.0, metavar="SECS",
                   help="seconds to wait before SIGKILL (default 10)")
    p.add_argument("containers", nargs="+", metavar="CONTAINER", help="name or id (prefix)")


def run(args: argparse.Namespace) -> int:
    found = [runstate.find(t) for t in args.containers]
    for c in found:
        lifecycle.stop(c, timeout=args.time)
        print(c.name)
    return 0

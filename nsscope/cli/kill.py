"""``nsscope kill [-s SIGNAL] CONTAINER…``: signal the container's PID 1."""

from __future__ import annotations

import argparse

from nsscope.errors import NsscopeError
from nsscope.actions.run import lifecycle
from nsscope.host import runstate


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("-s", "--signal", default="KILL", help="name or number (default KILL)")
    p.add_argument("containers", nargs="+", metavar="CONTAINER", help="name or id (prefix)")


def run(args: argparse.Namespace) -> int:
    sig = lifecycle.parse_signal(args.signal)
    found = [runstate.find(t) for t in args.containers]
    for c in found:
        if not lifecycle.send_signal(c, sig):
            raise NsscopeError(f"container {c.name} is not running")
        print(c.name)
    return 0

"""``nsscope rm [-f] CONTAINER…``: remove stopped containers (-f: kill running ones first)."""

from __future__ import annotations

import argparse

from nsscope.actions.run import lifecycle
from nsscope.host import runstate


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("-f", "--force", action="store_true", help="SIGKILL a running container first")
    p.add_argument("containers", nargs="+", metavar="CONTAINER", help="name or id (prefix)")


def run(args: argparse.Namespace) -> int:
    found = [runstate.find(t) for t in args.containers]
    for c in found:
        lifecycle.remove(c, force=args.force)
        print(c.name)
    return 0

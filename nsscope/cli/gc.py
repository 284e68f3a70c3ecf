"""``nsscope gc``: remove what crashed runs left (cgroups, state, names, overlay layers)."""

from __future__ import annotations

import argparse

from nsscope.actions.run import lifecycle


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.description = ("Remove what runs whose supervisor died left behind: cgroups /nsscope/<id> "
                     "(killing what is still in them), state directories with their overlay "
                     "layers, names. Running containers are never touched.")
    p.add_argument("--stopped", action="store_true",
                   help="also remove stopped containers (those kept for logs and rm)")


def run(args: argparse.Namespace) -> int:
    for line in lifecycle.gc(stopped=args.stopped):
        print(line)
    return 0

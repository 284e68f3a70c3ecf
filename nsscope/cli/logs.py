"""``nsscope logs [-f] CONTAINER``: what a ``-d`` container wrote (stdout and stderr)."""

from __future__ import annotations

import argparse

from nsscope.actions.run import lifecycle
from nsscope.host import runstate


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("-f", "--follow", action="store_true", help="keep printing until it stops")
    p.add_argument("container", metavar="CONTAINER", help="name or id (prefix)")


def run(args: argparse.Namespace) -> int:
    lifecycle.print_log(runstate.find(args.container), follow=args.follow)
    return 0

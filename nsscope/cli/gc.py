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
    p.add_argument("--images", action="store_true",
                   help="also remove the cached roots (extracted --image tars, --busybox "
                        "builds) no container was made from")


def run(args: argparse.Namespace) -> int:
    import os

    from nsscope.errors import AccessDenied
    if os.geteuid() != 0:
        raise AccessDenied("nsscope gc", "nsscope gc needs root (it removes cgroups, state "
                                         "and mounts)")
    for line in lifecycle.gc(stopped=args.stopped):
        print(line)
    if args.images:
        for line in lifecycle.gc_images():
            print(line)
    return 0

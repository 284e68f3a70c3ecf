"""``--from FILE [--at TIME]``: every view reads a recording instead of the host.

The views take their snapshot from ``collector.collect``, which reads the recording
when the roots name one (``roots_of``: ``args.from_file``, ``args.at``); here are the
two options each view declares, and the note on stderr saying which moment is shown.
Kept free of imports (the views' fast path: tests/unit/cli/test_view_imports.py).
"""

from __future__ import annotations

import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse

#: for the views' fast-path parsers (nsscope.cli.parse_simple)
FAST_OPTIONS = {"--from": ("from_file", "store"), "--at": ("at", "store")}

AT_HELP = ("with --from: the moment to show: '2026-12-03 03:00:00' (local time), -2h "
           "(before now), start or end (the default)")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--from", dest="from_file", metavar="FILE",
                   help="show a recording (nsscope record) instead of the host")
    p.add_argument("--at", metavar="TIME", help=AT_HELP)


def announce(args: object) -> None:
    """Check --from/--at before the view runs (a bad file or time is one line), and say
    on stderr which sample is shown."""
    path = getattr(args, "from_file", None)
    at = getattr(args, "at", None)
    if path is None:
        if at is not None:
            from nsscope.errors import BadInput
            raise BadInput("--at needs --from FILE (a recording)")
        return
    if getattr(args, "watch", False):
        from nsscope.errors import BadInput
        raise BadInput("--watch shows the host as it goes: not with --from")
    from nsscope.host.recording.reader import open_recording, stamp
    from nsscope.printable import safe
    r = open_recording(path)
    i = r.index_at(at)
    host = r.meta.get("hostname", "?")
    sys.stderr.write(safe(f"nsscope: recording {path} of {host}: the sample of "
                          f"{stamp(r.samples[i].at)} ({i + 1} of {len(r.samples)}, "
                          f"{stamp(r.samples[0].at)} to {stamp(r.samples[-1].at)})") + "\n")

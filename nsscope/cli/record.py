"""``nsscope record FILE``: sample the host into a recording, every --interval seconds.

What is recorded: the processes with their namespaces and cgroups, the namespace
graph, the containers (names, runtimes), every cgroup's CPU, throttling, memory
and pids figures and PSI, the host's PSI (schema: nsscope/host/recording/schema.py,
docs/recording.md). The incremental sampler (host/sampler.py) makes the
snapshots, so a sample costs what a TUI refresh costs; the writer stores what
changed. SIGINT and SIGTERM end it cleanly (the file left whole, one file);
SIGKILL loses at most the sample being written.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import resource
import signal
import sys
import threading
import time

from nsscope.errors import BadInput
from nsscope.host.collector import roots_of
from nsscope.host.recording.reader import parse_duration
from nsscope.host.recording.writer import Writer
from nsscope.host.sampler import Sampler
from nsscope.printable import safe

#: --keep drops old samples at most this often (seconds): a DELETE per sample
#: would cost more than the samples it frees
PRUNE_EVERY = 60.0


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", metavar="FILE", help="the recording (SQLite); an existing "
                   "recording is continued")
    p.add_argument("--interval", type=float, default=5.0, metavar="SECONDS",
                   help="seconds between samples (default 5)")
    p.add_argument("--for", dest="duration", metavar="DURATION",
                   help="stop after this long (30s, 10m, 2h, 1d); default: until SIGINT/SIGTERM")
    p.add_argument("--keep", metavar="DURATION",
                   help="drop samples older than this (e.g. 7d); default: keep all")


def run(args: argparse.Namespace) -> int:
    if not args.interval >= 0.1:
        raise BadInput("--interval must be at least 0.1 s")
    duration = parse_duration(args.duration) if args.duration is not None else None
    keep = parse_duration(args.keep) if args.keep is not None else None
    if keep is not None and keep < args.interval:
        raise BadInput("--keep must be longer than --interval")
    _raise_fd_limit()
    stop = threading.Event()

    def stopping(signum: int, frame: object) -> None:
        stop.set()

    old = {s: signal.signal(s, stopping) for s in (signal.SIGINT, signal.SIGTERM)}
    writer = Writer(args.file, interval=args.interval)
    sampler = Sampler(roots_of(args))
    n = 0
    try:
        sys.stderr.write(safe(f"nsscope: recording {args.file} every {args.interval:g} s"
                              + (f" for {args.duration}" if duration else "")
                              + " (SIGINT or SIGTERM stops)") + "\n")
        started = time.monotonic()
        end = started + duration if duration is not None else None
        due = started
        pruned = -PRUNE_EVERY
        while not stop.is_set():
            writer.add(sampler.sample())
            n += 1
            now = time.monotonic()
            if keep is not None and now - pruned >= PRUNE_EVERY:
                writer.prune(time.time() - keep)
                pruned = now
            due += args.interval
            if due < now:  # a sample took longer than the interval: the next one now
                due = now
            if end is not None and due > end:
                break
            stop.wait(due - now)
    finally:
        sampler.close()
        writer.close()
        for s, h in old.items():
            signal.signal(s, h)
    size = os.path.getsize(args.file)
    sys.stderr.write(safe(f"nsscope: {n} samples written to {args.file} "
                          f"({size / 1e6:.1f} MB)") + "\n")
    return 0


def _raise_fd_limit() -> None:
    """The sampler keeps a descriptor per cgroup file open (host/kept_files.py, half the
    soft limit at most): the soft RLIMIT_NOFILE up to the hard one, as systemd does."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = hard if hard != resource.RLIM_INFINITY else 1 << 20
    if soft != resource.RLIM_INFINITY and soft < want:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))

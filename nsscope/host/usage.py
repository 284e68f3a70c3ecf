"""What a few processes use right now: CPU %, resident memory, disk I/O rates — the
columns htop and ``docker top``/``ps aux`` users look for in a process list.

Read through psutil, which already parses /proc/PID/stat, statm and io the way the
kernel documents them (Documentation/filesystems/proc.rst, "/proc/<pid>/io") and
keeps the per-process state a rate needs; nsscope's own readers stay on the
views' fast paths, where psutil's import alone (~20 ms) would cost more than the
whole view (``nsscope show`` runs in ~40 ms; README "Speed"). This module serves
long-lived callers — the TUI's process list — for the handful of processes on
screen, never a whole host.

A rate needs two readings of the same process: a process is tracked by pid *and*
start time, so a pid reused between two readings starts over instead of showing
the old process's counters against the new one's.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

import psutil

from nsscope.records import Record


class Usage(Record):
    """One process's use between the last two readings; None where not known yet (a
    first reading) or not readable (another user's /proc/PID/io without root)."""

    pid: int
    #: CPU time per wall second, % of one CPU (100 = one core), as top shows it
    cpu_pct: float | None
    #: resident set size, bytes (/proc/PID/statm's resident pages)
    rss: int | None
    #: storage I/O caused by the process, bytes per second (/proc/PID/io read_bytes,
    #: write_bytes: what reached the block layer, not what a pipe or cache absorbed)
    read_bps: float | None
    write_bps: float | None


class _Seen:
    __slots__ = ("at", "cpu", "create", "proc", "read", "write")

    def __init__(self, proc: psutil.Process, create: float) -> None:
        self.proc = proc
        self.create = create
        self.at: float | None = None
        self.cpu: float | None = None
        self.read: int | None = None
        self.write: int | None = None


class UsageReader:
    """Readings of the processes asked for, each compared with the previous one."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._seen: dict[int, _Seen] = {}

    def read(self, pids: Iterable[int]) -> dict[int, Usage]:
        """The usage of each pid still alive; processes not asked for are forgotten."""
        out: dict[int, Usage] = {}
        kept: dict[int, _Seen] = {}
        for pid in pids:
            u = self._read_one(pid, kept)
            if u is not None:
                out[pid] = u
        self._seen = kept
        return out

    def _read_one(self, pid: int, kept: dict[int, _Seen]) -> Usage | None:
        seen = self._seen.get(pid)
        try:
            if seen is None:
                proc = psutil.Process(pid)
                seen = _Seen(proc, proc.create_time())
            proc = seen.proc
            with proc.oneshot():
                if proc.create_time() != seen.create:
                    # the pid was reused: a new process, no rate against the old one
                    seen = _Seen(psutil.Process(pid), proc.create_time())
                    proc = seen.proc
                times = proc.cpu_times()
                rss = proc.memory_info().rss
                try:
                    io = proc.io_counters()
                    read, write = io.read_bytes, io.write_bytes
                except (psutil.AccessDenied, AttributeError):
                    read = write = None
        except (psutil.NoSuchProcess, psutil.ZombieProcess):
            return None
        except psutil.AccessDenied:
            return Usage(pid=pid, cpu_pct=None, rss=None, read_bps=None, write_bps=None)
        now = self._clock()
        cpu = times.user + times.system
        cpu_pct = read_bps = write_bps = None
        if seen.at is not None and now > seen.at:
            dt = now - seen.at
            if seen.cpu is not None:
                cpu_pct = max(0.0, (cpu - seen.cpu) / dt * 100.0)
            if read is not None and seen.read is not None:
                read_bps = max(0.0, (read - seen.read) / dt)
            if write is not None and seen.write is not None:
                write_bps = max(0.0, (write - seen.write) / dt)
        seen.at, seen.cpu, seen.read, seen.write = now, cpu, read, write
        kept[pid] = seen
        return Usage(pid=pid, cpu_pct=cpu_pct, rss=rss, read_bps=read_bps,
                     write_bps=write_bps)

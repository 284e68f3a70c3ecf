"""Reads a recording back as ``Snapshot``s: the host as it was at one sample.

The snapshot is the live collector's model, so a view shows a recorded moment
with the same code as a live one. What the recording does not store is made
again from what it does, as the live sampler makes it: a namespace's members
are the processes whose links name it, a cgroup's members the processes whose
/proc/PID/cgroup names it (sampler.py, ``_index``).

A recording is opened read-only; one being recorded may be read meanwhile
(WAL: readers do not block the writer, https://sqlite.org/wal.html).
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from bisect import bisect_left

from nsscope.errors import BadInput, NsscopeError
from nsscope.host.history import CpuRates, rates
from nsscope.host.model import (Cgroup, Container, CpuStats, Hierarchy, MemoryStats, Namespace,
                                PidsStats, Pressure, Process, Snapshot)
from nsscope.host.recording import schema
from nsscope.host.recording.writer import check_version

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable
    from typing import Any


class Sample:
    """One sample: its id, wall-clock time (seconds since the epoch) and the host's uptime."""

    __slots__ = ("at", "id", "uptime")

    def __init__(self, id: int, at: float, uptime: float) -> None:
        self.id, self.at, self.uptime = id, at, uptime


def stamp(at: float) -> str:
    """A sample's time as ``--at`` takes it (local time)."""
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(at))


class Recording:
    """An open recording file."""

    def __init__(self, path: str) -> None:
        self.path = path
        if not os.path.exists(path):
            raise NsscopeError(f"{path}: no such file")
        try:
            # read-only: a recording is never changed by reading it. A file cut by
            # SIGKILL still has its -wal beside it; SQLite reads it as part of the file
            self.db = sqlite3.connect(f"file:{_uri(path)}?mode=ro", uri=True,
                                      check_same_thread=False, timeout=5.0)
        except sqlite3.DatabaseError as e:
            raise NsscopeError(f"{path}: cannot be opened ({e})") from None
        try:
            check_version(path, self.db, self.db.execute("PRAGMA user_version").fetchone()[0])
            self.meta = dict(self.db.execute("SELECT key, value FROM meta"))
            self.samples = [Sample(*r) for r in self.db.execute(
                "SELECT id, at, uptime FROM sample ORDER BY id")]
            if not self.samples:
                raise NsscopeError(f"{path}: the recording has no sample yet")
        except sqlite3.DatabaseError as e:
            self.db.close()
            raise NsscopeError(f"{path}: not an nsscope recording ({e})") from None
        except BaseException:
            self.db.close()
            raise
        self._ats = [s.at for s in self.samples]
        #: "now" for ``--at -2h``: fixed when the file is opened, so that every look-up
        #: of one command names the same sample
        self.now = time.time()

    def close(self) -> None:
        self.db.close()

    # --- which sample

    def index_at(self, when: str | None, now: float | None = None) -> int:
        """The index (in ``samples``) of the sample ``when`` names: the first taken at or
        after that time (its rates cover the interval in which the time falls);
        ``start``/``end`` (default) the first and last."""
        if when is None or when == "end":
            return len(self.samples) - 1
        if when == "start":
            return 0
        t = parse_time(when, self.now if now is None else now)
        first, last = self.samples[0].at, self.samples[-1].at
        if t < first or t > last:
            raise BadInput(f"--at {when}: the recording runs from {stamp(first)} to "
                           f"{stamp(last)}")
        return min(bisect_left(self._ats, t), len(self.samples) - 1)

    # --- what was there

    def snapshot(self, i: int) -> Snapshot:
        """The host at sample ``samples[i]``."""
        s = self.samples[i]
        sid = s.id
        alive = "first <= ? AND (until IS NULL OR until > ?)"
        db = self.db
        procs: dict[int, Process] = {}
        for pid, start, comm, state, data in db.execute(
                f"SELECT pid, starttime, comm, state, data FROM process WHERE {alive} "
                "ORDER BY pid", (sid, sid)):
            ppid, uid, cmdline, kthread, links, paths, visible = json.loads(data)
            procs[pid] = Process(pid, ppid, uid, comm, tuple(cmdline), state, start, kthread,
                                 links, paths, visible)
        members: dict[int, list[int]] = {}
        in_cgroup: dict[str, set[int]] = {}
        for pid, p in procs.items():
            for link, ino in p.ns.items():
                if not link.endswith("_for_children"):
                    members.setdefault(ino, []).append(pid)
            for path in p.cgroups.values():
                in_cgroup.setdefault(path, set()).add(pid)
        nss: dict[int, Namespace] = {}
        for ino, typ, data in db.execute(
                f"SELECT ino, type, data FROM namespace WHERE {alive} ORDER BY ino", (sid, sid)):
            owner, parent, owner_uid, nsfs, holders, netnsid = json.loads(data)
            nss[ino] = Namespace(ino, typ, tuple(members.get(ino, ())), owner, parent, owner_uid,
                                 tuple(nsfs), tuple(holders), netnsid)
        cgs: dict[str, Cgroup] = {}
        for path_id, path, data in db.execute(
                "SELECT c.path_id, p.path, c.data FROM cgroup c JOIN cgroup_path p "
                "ON p.id = c.path_id WHERE c.first <= ? AND (c.until IS NULL OR c.until > ?) "
                "ORDER BY p.path", (sid, sid)):
            cpu, mem, pids = self._figures(path_id, sid)
            cgs[path] = Cgroup(path, tuple(json.loads(data)),
                               tuple(sorted(in_cgroup.get(path, ()))), cpu, mem, pids)
        containers = []
        for (data,) in db.execute(f"SELECT data FROM container WHERE {alive}", (sid, sid)):
            d: dict[str, Any] = json.loads(data)
            fields: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v
                                      for k, v in d.items() if k in Container._fields}
            c = Container(**fields)
            containers.append(c._replace(cpu_limit=_cpu_limit(c, cgs)))
        # the order recognition gives them (containers/recognise.py, find)
        containers.sort(key=lambda c: (c.sandbox, c.runtime, c.k8s_namespace or "", c.pod or "",
                                       c.name))
        host = {key: json.loads(data) for key, data in db.execute(
            f"SELECT key, data FROM host WHERE {alive}", (sid, sid))}
        pressure = db.execute("SELECT cpu_pressure FROM sample WHERE id = ?",
                              (sid,)).fetchone()[0]
        return Snapshot(
            processes=Snapshot.freeze(procs), namespaces=Snapshot.freeze(nss),
            cgroups=Snapshot.freeze(cgs), cgroup_mode=host.get("cgroup_mode", "none"),
            hierarchies=tuple(Hierarchy(k, v, tuple(c), m, r)
                              for k, v, c, m, r in host.get("hierarchies", ())),
            host_ns=host.get("host_ns", {}), uptime=s.uptime,
            cpu_pressure=None if pressure is None else Pressure(*json.loads(pressure)),
            hidden=tuple(host.get("hidden", ())), containers=tuple(containers))

    def _figures(self, path_id: int, sid: int
                 ) -> tuple[CpuStats | None, MemoryStats | None, PidsStats | None]:
        row = self.db.execute(
            f"SELECT {', '.join(schema.FIGURES)} FROM cgroup_figures WHERE cgroup = ? AND "
            "sample <= ? ORDER BY sample DESC LIMIT 1", (path_id, sid)).fetchone()
        return decode(row) if row is not None else (None, None, None)

    # --- over time

    def rates(self, i: int) -> dict[str, CpuRates]:
        """The CPU rates of every cgroup between the sample before ``samples[i]`` and it
        (empty for the first): history.rates, as the live views compute them."""
        series = self.rates_between(i - 1, i) if i > 0 else []
        return series[-1] if series else {}

    def rates_between(self, lo: int, hi: int) -> list[dict[str, CpuRates]]:
        """The rates at each sample after ``samples[lo]`` up to ``samples[hi]``, per cgroup."""
        lo = max(lo, 0)
        if hi <= lo:
            return []
        s0, s1 = self.samples[lo], self.samples[hi]
        ids = [s.id for s in self.samples[lo:hi + 1]]
        ups = {s.id: s.uptime for s in self.samples[lo:hi + 1]}
        out: list[dict[str, CpuRates]] = [{} for _ in ids[1:]]
        paths = self.db.execute(
            "SELECT DISTINCT c.path_id, p.path FROM cgroup c JOIN cgroup_path p ON "
            "p.id = c.path_id WHERE c.first <= ? AND (c.until IS NULL OR c.until > ?)",
            (s1.id, s0.id)).fetchall()
        for path_id, path in paths:
            rows = self.db.execute(
                f"SELECT sample, {', '.join(schema.FIGURES)} FROM cgroup_figures WHERE "
                "cgroup = ? AND sample <= ? AND sample >= coalesce((SELECT max(sample) FROM "
                "cgroup_figures WHERE cgroup = ? AND sample <= ?), ?) ORDER BY sample",
                (path_id, s1.id, path_id, s0.id, s0.id)).fetchall()
            if not rows:
                continue
            # carried forward: a cgroup's figures at a sample are its latest row
            cur: CpuStats | None = None
            j = 0
            prev: CpuStats | None = None
            for k, sid in enumerate(ids):
                while j < len(rows) and rows[j][0] <= sid:
                    cur = decode(rows[j][1:])[0]
                    j += 1
                if k > 0 and prev is not None and cur is not None:
                    dt = ups[sid] - ups[ids[k - 1]]
                    out[k - 1][path] = rates(prev, cur, dt, ups[sid])
                prev = cur
        return out


_opened: dict[str, Recording] = {}


def open_recording(path: str) -> Recording:
    """The recording at ``path``, opened once per process (a command's note on which
    sample it shows and its snapshot read the same file, at the same "now")."""
    r = _opened.get(path)
    if r is None:
        r = _opened[path] = Recording(path)
    return r


def recorded_snapshot(path: str, at: str | None) -> Snapshot:
    """The host at the sample ``--at`` names (collector.collect with roots.recording)."""
    r = open_recording(path)
    return r.snapshot(r.index_at(at))


def _cpu_limit(c: Container, cgs: dict[str, Cgroup]) -> float | None:
    """The quota that binds a container at this sample: the tightest over its cgroup and
    its ancestors (CFS bandwidth is hierarchical, sched-bwc.rst), from the figures
    recorded with the sample. The sampler recognises containers again only when
    processes or cgroups come and go, so the limit recorded with the container may
    be older than a throttle; the figures are not."""
    path = c.cgroup
    if path is None or path not in cgs:
        return c.cpu_limit
    limits = []
    while True:
        cg = cgs.get(path)
        if cg is not None and cg.cpu is not None and cg.cpu.limit_cpus is not None:
            limits.append(cg.cpu.limit_cpus)
        if path == "/":
            break
        path = path.rsplit("/", 1)[0] or "/"
    return min(limits) if limits else None


def decode(row: Iterable) -> tuple[CpuStats | None, MemoryStats | None, PidsStats | None]:
    """A ``cgroup_figures`` row (``schema.FIGURES`` columns) as the model's records."""
    (parts, usage, user, system, periods, throttled, thr_usec, quota, period, weight, shares,
     s10, s60, s300, stotal, f10, ftotal, mcur, mmax, pcur, pmax) = row
    cpu = mem = pids = None
    if parts & schema.CPU:
        pressure = None
        if parts & schema.PRESSURE:
            pressure = Pressure(s10 / 100, s60 / 100, s300 / 100, stotal,
                                None if f10 is None else f10 / 100, ftotal)
        cpu = CpuStats(usage, user, system, periods, throttled, thr_usec, quota, period, weight,
                       shares, pressure)
    if parts & schema.MEMORY:
        mem = MemoryStats(mcur, mmax)
    if parts & schema.PIDS:
        pids = PidsStats(pcur, pmax)
    return cpu, mem, pids


def _uri(path: str) -> str:
    from urllib.parse import quote
    return quote(os.path.abspath(path))


# --- --at TIME ----------------------------------------------------------------------

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d")


def parse_duration(text: str) -> float:
    """``90``, ``90s``, ``5m``, ``2h``, ``1d``, ``1h30m`` as seconds."""
    total = 0.0
    num = ""
    t = text.strip()
    if not t:
        raise BadInput("an empty duration")
    for ch in t:
        if ch.isdigit() or ch == ".":
            num += ch
        elif ch in _UNITS and num:
            total += float(num) * _UNITS[ch]
            num = ""
        else:
            raise BadInput(f"not a duration: {text!r} (e.g. 30s, 5m, 2h, 1d, 1h30m)")
    if num:
        total += float(num)
    return total


def parse_time(text: str, now: float) -> float:
    """``--at``'s TIME: ``2026-12-03 03:00:00`` (local time), or ``-2h`` (before now)."""
    t = text.strip()
    if t.startswith("-"):
        return now - parse_duration(t[1:])
    for fmt in _FORMATS:
        try:
            return time.mktime(time.strptime(t, fmt))
        except ValueError:
            continue
    raise BadInput(f"--at {text}: not a time (e.g. '2026-12-03 03:00:00', -2h, start, end)")

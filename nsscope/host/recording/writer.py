"""Appends samples of the host to a recording (``nsscope record``).

Each ``add`` is one transaction, committed before the next sample is taken, in
SQLite's write-ahead log (``journal_mode=WAL``): a recorder killed with SIGKILL
loses at most the sample it was writing, and the file opens (SQLite rolls the
log forward on the next open; https://sqlite.org/wal.html "Durability"). With
``synchronous=NORMAL`` a commit is not fsynced: a power cut may lose the last
samples since a checkpoint, never the file's consistency (sqlite.org/pragma.html
#pragma_synchronous, "WAL mode is always consistent with synchronous=NORMAL").

What did not change is not written again (schema.py): a record the sampler
handed out unchanged (it shares unchanged ``Process`` records and whole
mappings between snapshots, sampler.py) is not even encoded again.
"""

from __future__ import annotations

import fcntl
import json
import os
import sqlite3
import time

from nsscope import __version__
from nsscope.errors import NsscopeError
from nsscope.host.model import Cgroup, Snapshot
from nsscope.host.recording import schema

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping
    from typing import Any


def _json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


class _Versions:
    """One versioned table: the rows still open (``until`` NULL) by key, and the record
    each was encoded from (an identical record is not encoded again)."""

    def __init__(self, table: str, keys: tuple[str, ...], extra: tuple[str, ...]) -> None:
        cols = (*keys, *extra, "data", "first")
        self.insert = (f"INSERT INTO {table} ({', '.join(cols)}) "
                       f"VALUES ({', '.join('?' * len(cols))})")
        self.close = f"UPDATE {table} SET until = ? WHERE id = ?"
        #: key -> (rowid, what is compared: the columns that make a new version)
        self.open: dict[Any, tuple[int, Any]] = {}
        self.source: dict[Any, object] = {}

    def update(self, db: sqlite3.Connection, sid: int, items: Iterable[tuple[Any, object]],
               encode: Callable[[object], tuple[tuple, Any]], keys: Callable[[Any], tuple]
               ) -> None:
        """``items``: (key, record) of every thing present at sample ``sid``; ``encode``
        gives (the columns after the keys, the value a change of which is a new version)."""
        seen = set()
        opened = self.open
        source = self.source
        for key, rec in items:
            seen.add(key)
            if source.get(key) is rec:
                continue
            source[key] = rec
            cols, compared = encode(rec)
            old = opened.get(key)
            if old is not None:
                if old[1] == compared:
                    continue
                db.execute(self.close, (sid, old[0]))
            cur = db.execute(self.insert, (*keys(key), *cols, sid))
            opened[key] = (cur.lastrowid or 0, compared)
        for key in [k for k in opened if k not in seen]:
            db.execute(self.close, (sid, opened.pop(key)[0]))
            source.pop(key, None)


def _process(p: Any) -> tuple[tuple, Any]:
    data = _json([p.ppid, p.uid, list(p.cmdline), p.kernel_thread, dict(p.ns), dict(p.cgroups),
                  p.visible])
    # the state letter (R, S, D …) changes all the time: kept as first seen in a
    # version, not a reason for a new one
    return (p.comm, p.state, data), (p.comm, data)


def _namespace(ns: Any) -> tuple[tuple, Any]:
    # the members are not stored: they are the processes whose links name it
    data = _json([ns.owner, ns.parent, ns.owner_uid, list(ns.nsfs), list(ns.holders),
                  ns.netnsid])
    return (ns.type, data), (ns.type, data)


def _container(c: Any) -> tuple[tuple, Any]:
    data = _json({k: list(v) if isinstance(v, tuple) else v for k, v in c._asdict().items()})
    return (c.name, data), data


def _plain(value: Any) -> tuple[tuple, Any]:
    data = _json(value)
    return (data,), data


def figures(cg: Cgroup) -> tuple:
    """A cgroup's figures as ``schema.FIGURES`` orders them."""
    parts = 0
    c, m, p = cg.cpu, cg.memory, cg.pids
    row: list[Any] = []
    if c is not None:
        parts |= schema.CPU
        row += [c.usage_usec, c.user_usec, c.system_usec, c.nr_periods, c.nr_throttled,
                c.throttled_usec, c.quota_usec, c.period_usec, c.weight, c.shares]
        pr = c.pressure
    else:
        row += [None] * 10
        pr = None
    if pr is not None:
        parts |= schema.PRESSURE
        row += [_centi(pr.some_avg10), _centi(pr.some_avg60), _centi(pr.some_avg300),
                pr.some_total, _centi(pr.full_avg10), pr.full_total]
    else:
        row += [None] * 6
    if m is not None:
        parts |= schema.MEMORY
        row += [m.current, m.max]
    else:
        row += [None, None]
    if p is not None:
        parts |= schema.PIDS
        row += [p.current, p.max]
    else:
        row += [None, None]
    return (parts, *row)


#: the PSI averages in ``schema.FIGURES``: not a reason for a new row
_AVERAGES = frozenset(schema.FIGURES.index(c) for c in (
    "psi_some_avg10", "psi_some_avg60", "psi_some_avg300", "psi_full_avg10"))


def _counters(f: tuple) -> tuple:
    """What makes a new ``cgroup_figures`` row: every figure but the PSI averages. An
    average decays for minutes after the last stall (kernel/sched/psi.c, calc_avgs:
    exponential, every 2 s), so it changes at every sample of a cgroup that did nothing
    since: a row each time, for a figure the totals already give exactly over any
    interval (stall µs / elapsed; history.rates). They are written with the counters
    and carried forward with them (docs/recording.md)."""
    return tuple(v for i, v in enumerate(f) if i not in _AVERAGES)


def _centi(v: float | None) -> int | None:
    return None if v is None else round(v * 100)


def _refuse(path: str, why: str) -> NsscopeError:
    return NsscopeError(f"{path}: {why}")


class Writer:
    """Samples into ``path``: a new file, or one this nsscope recorded before (continued)."""

    def __init__(self, path: str, *, interval: float) -> None:
        self.path = path
        self._lock_fd = _lock(path)
        try:
            self.db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            self._open(interval)
        except sqlite3.DatabaseError as e:
            os.close(self._lock_fd)
            raise _refuse(path, f"not an nsscope recording ({e})") from None
        except BaseException:
            os.close(self._lock_fd)
            raise
        self._tables = {name: _Versions(name, keys, extra) for name, keys, extra in (
            ("process", ("pid", "starttime"), ("comm", "state")),
            ("namespace", ("ino",), ("type",)),
            ("container", ("key",), ("name",)),
            ("cgroup", ("path_id",), ()),
            ("host", ("key",), ()),
        )}
        self._path_ids: dict[str, int] = dict(
            (p, i) for i, p in self.db.execute("SELECT id, path FROM cgroup_path"))
        #: cgroup path -> its figures as last written
        self._figures: dict[str, tuple] = {}
        self._last_procs: object = None

    def _open(self, interval: float) -> None:
        db = self.db
        version = db.execute("PRAGMA user_version").fetchone()[0]
        tables = db.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
        if version == 0 and tables == 0:
            # new: pages freed by --keep are given back (incremental vacuum), which
            # must be chosen before the first table is made (sqlite.org/pragma.html)
            db.execute("PRAGMA auto_vacuum = INCREMENTAL")
            db.execute("PRAGMA journal_mode = WAL")
            db.execute("BEGIN")
            for stmt in schema.SCHEMA.split(";"):
                if stmt.strip():
                    db.execute(stmt)
            meta = {"format": schema.FORMAT, "created": repr(time.time()),
                    "nsscope": __version__, "hostname": os.uname().nodename,
                    "kernel": os.uname().release, "interval": repr(interval),
                    "boot_id": _boot_id()}
            db.executemany("INSERT INTO meta VALUES (?, ?)", meta.items())
            db.execute(f"PRAGMA user_version = {schema.VERSION}")
            db.execute("COMMIT")
        else:
            check_version(self.path, db, version)
            if version != schema.VERSION:
                raise _refuse(self.path, f"a recording of schema {version}: this nsscope "
                                         f"appends to schema {schema.VERSION} only; record "
                                         "into a new file")
            db.execute("PRAGMA journal_mode = WAL")
            # continued after a stop (or a crash): what was open is closed at the next
            # sample; from then on everything is recorded afresh
            last = db.execute("SELECT max(id) FROM sample").fetchone()[0]
            db.execute("BEGIN")
            for table in schema.VERSIONED:
                db.execute(f"UPDATE {table} SET until = ? WHERE until IS NULL",
                           ((last or 0) + 1,))
            db.execute("COMMIT")
        db.execute("PRAGMA synchronous = NORMAL")
        # a reader's checkpoint or recovery may hold a lock for a moment: wait for it
        db.execute("PRAGMA busy_timeout = 5000")

    def add(self, snap: Snapshot, at: float | None = None) -> int:
        """Write one sample, in one transaction; its id."""
        db = self.db
        at = time.time() if at is None else at
        db.execute("BEGIN")
        try:
            pressure = snap.cpu_pressure
            sid = db.execute("INSERT INTO sample (at, uptime, cpu_pressure) VALUES (?, ?, ?)",
                             (at, snap.uptime, None if pressure is None
                              else _json(list(pressure)))).lastrowid or 0
            t = self._tables
            if snap.processes is not self._last_procs:
                t["process"].update(db, sid, ((k, p) for k, p in (
                    ((p.pid, p.starttime), p) for p in snap.processes.values())),
                    _process, lambda k: k)
                self._last_procs = snap.processes
            # (the same mapping as last time: the sampler saw nothing come, go or change)
            t["namespace"].update(db, sid, snap.namespaces.items(), _namespace,
                                  lambda k: (k,))
            t["container"].update(db, sid, ((c.key, c) for c in snap.containers), _container,
                                  lambda k: (k,))
            self._cgroups(db, sid, snap.cgroups)
            host = {"cgroup_mode": snap.cgroup_mode,
                    "hierarchies": [list(h) for h in snap.hierarchies],
                    "host_ns": dict(snap.host_ns), "hidden": list(snap.hidden)}
            t["host"].update(db, sid, host.items(), _plain, lambda k: (k,))
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            # what the tables hold is no longer what the caches say: start again
            for v in self._tables.values():
                v.source.clear()
            self._last_procs = None
            raise
        return sid

    def _cgroups(self, db: sqlite3.Connection, sid: int, cgs: Mapping[str, Cgroup]) -> None:
        ids = self._path_ids
        for path in cgs:
            if path not in ids:
                ids[path] = db.execute("INSERT INTO cgroup_path (path) VALUES (?)",
                                       (path,)).lastrowid or 0
        self._tables["cgroup"].update(db, sid, ((ids[p], list(cg.hierarchies))
                                                for p, cg in cgs.items()),
                                      _plain, lambda k: (k,))
        last = self._figures
        rows = []
        for path, cg in cgs.items():
            f = figures(cg)
            key = _counters(f)
            if last.get(path) != key:
                last[path] = key
                rows.append((ids[path], sid, *f))
        for path in [p for p in last if p not in cgs]:
            del last[path]  # gone: a cgroup made again under this path is written afresh
        if rows:
            db.executemany(f"INSERT INTO cgroup_figures VALUES "
                           f"({', '.join('?' * (2 + len(schema.FIGURES)))})", rows)

    def prune(self, before: float) -> int:
        """Drop the samples taken before ``before`` (wall-clock seconds); how many.

        A cgroup's figures are its latest row at or before a sample: the first sample
        kept gets a row of every cgroup there whose row is older, before those go."""
        db = self.db
        row = db.execute("SELECT min(id) FROM sample WHERE at >= ?", (before,)).fetchone()
        first = db.execute("SELECT min(id) FROM sample").fetchone()[0]
        keep = row[0]
        if keep is None or first is None or keep <= first:
            return 0
        cols = ", ".join(schema.FIGURES)
        db.execute("BEGIN")
        try:
            db.execute(
                f"INSERT OR IGNORE INTO cgroup_figures (cgroup, sample, {cols}) "
                f"SELECT cgroup, ?, {cols} FROM (SELECT *, max(sample) FROM cgroup_figures "
                "WHERE sample < ? GROUP BY cgroup) WHERE cgroup IN (SELECT path_id FROM cgroup "
                "WHERE first <= ? AND (until IS NULL OR until > ?))", (keep, keep, keep, keep))
            db.execute("DELETE FROM cgroup_figures WHERE sample < ?", (keep,))
            n = db.execute("DELETE FROM sample WHERE id < ?", (keep,)).rowcount
            for table in schema.VERSIONED:
                db.execute(f"DELETE FROM {table} WHERE until IS NOT NULL AND until <= ?",
                           (keep,))
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("PRAGMA incremental_vacuum")
        return n

    def close(self) -> None:
        """Checkpoint the log into the file and leave it whole: one file, no -wal beside it.
        While someone reads the file (a TUI on it) the log cannot be folded back: it is
        then left in WAL mode, whole all the same (the next opener reads the log)."""
        try:
            self.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            self.db.execute("PRAGMA journal_mode = DELETE")
        except sqlite3.OperationalError:
            pass  # "database is locked": a reader has it open
        finally:
            self.db.close()
            os.close(self._lock_fd)


def check_version(path: str, db: sqlite3.Connection, version: int) -> None:
    """Refuse a file that is not a recording, or of a schema this nsscope cannot read."""
    if version not in schema.READABLE:
        if version == 0:
            raise _refuse(path, "not an nsscope recording")
        if version > schema.VERSION:
            raise _refuse(path, f"recorded with schema version {version}, newer than this "
                                f"nsscope reads ({', '.join(map(str, schema.READABLE))}): "
                                "read it with a newer nsscope")
        raise _refuse(path, f"recorded with schema version {version}, which this nsscope no "
                            "longer reads")
    try:
        fmt = db.execute("SELECT value FROM meta WHERE key = 'format'").fetchone()
    except sqlite3.DatabaseError:
        fmt = None
    if fmt is None or fmt[0] != schema.FORMAT:
        raise _refuse(path, "not an nsscope recording")


def _lock(path: str) -> int:
    """An exclusive flock on the file: one recorder per file (SQLite's own locks are
    fcntl locks, independent of flock on Linux: flock(2) NOTES)."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise _refuse(path, "another nsscope record is writing this file") from None
    return fd


def _boot_id() -> str:
    try:
        with open("/proc/sys/kernel/random/boot_id") as f:
            return f.read().strip()
    except OSError:
        return ""

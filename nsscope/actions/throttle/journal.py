"""The record of what nsscope changed: one JSON file per limited cgroup under
``/run/nsscope/throttle``, written atomically as the changes are made, and the
lock that serialises every throttle and reset on the host.

A ``Record`` is typed (the architecture review, §3, found the untyped dict
threaded through a dozen functions). It is staged: each list grows just before
the change it undoes is made, and ``save`` writes it again, so a throttle that
dies half-way leaves a record ``--reset`` can finish from. Besides the
original contents of the limit files it keeps what nsscope last *wrote* there:
``reset`` compares the files with that, so a change someone made since
(``docker update --cpus``, systemd) is never silently undone.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from nsscope.actions.throttle.placement import Host
from nsscope.errors import AccessDenied, NoSuchProcess, NsscopeError
from nsscope.host import processes
from nsscope.host.target import Target

#: where the originals are recorded (tmpfs: a reboot forgets them, as it forgets the limits)
STATE_DIR = "/run/nsscope/throttle"
#: the record format written; format 1 (no "written", one path in every hierarchy) is read
FORMAT = 2


# --- the record -----------------------------------------------------------------------------

@dataclass(slots=True)
class Origin:
    """The process a limit was asked for, named for good."""

    pid: int
    starttime: int
    container: str | None = None
    container_id: str | None = None
    #: hierarchy key -> its cgroup before nsscope moved it (None: it was not moved)
    cgroups: dict[str, str] | None = None


@dataclass(slots=True)
class Moved:
    """A process nsscope moved into the limited cgroup."""

    pid: int
    starttime: int | None
    #: hierarchy key -> the cgroup it came from (only the hierarchies it was moved in)
    came_from: dict[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class Record:
    """Everything nsscope changed for one limited cgroup (mutable: staged, see module doc)."""

    #: the limited cgroup, in the cpu hierarchy
    cgroup: str
    #: cgroup version of the cpu hierarchy
    version: int
    #: the cpu hierarchy's key (as /proc/PID/cgroup names it; "" for v2)
    hierarchy: str
    target: Origin
    #: why this cgroup, as said to the user
    reason: str = ""
    #: [hierarchy key, path] of each cgroup nsscope made, parents first
    created: list[tuple[str, str]] = field(default_factory=list)
    #: v2: cgroups whose cgroup.subtree_control nsscope gave +cpu
    enabled: list[str] = field(default_factory=list)
    moved: list[Moved] = field(default_factory=list)
    #: hierarchy key -> the cgroup moved processes were put in (the limited one in the
    #: cpu hierarchy; its twin beneath their old cgroup in the companions)
    placed: dict[str, str] = field(default_factory=dict)
    #: the limit files' contents before nsscope's first write
    files: dict[str, str] | None = None
    #: what the limit files held after nsscope's last write (None: not written yet,
    #: or a format-1 record that did not keep it)
    written: dict[str, str] | None = None
    #: the systemd unit owning the cgroup, when systemd runs it
    unit: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT, "cgroup": self.cgroup, "version": self.version,
            "hierarchy": self.hierarchy,
            "target": {"pid": self.target.pid, "starttime": self.target.starttime,
                       "container": self.target.container,
                       "container_id": self.target.container_id,
                       "origin": self.target.cgroups},
            "reason": self.reason, "created": [list(c) for c in self.created],
            "enabled": list(self.enabled),
            "moved": [{"pid": m.pid, "starttime": m.starttime, "from": m.came_from}
                      for m in self.moved],
            "placed": self.placed, "files": self.files, "written": self.written,
            "unit": self.unit,
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Record:
        """A record as saved (format 1 or 2); ValueError if it is not one."""
        try:
            t = d["target"]
            rec = cls(
                cgroup=d["cgroup"], version=int(d["version"]), hierarchy=d["hierarchy"],
                target=Origin(pid=int(t["pid"]), starttime=int(t["starttime"]),
                              container=t.get("container"),
                              container_id=t.get("container_id"), cgroups=t.get("origin")),
                reason=d.get("reason", ""),
                created=[(k, p) for k, p in d.get("created", [])],
                enabled=list(d.get("enabled", [])),
                moved=[Moved(pid=int(m["pid"]), starttime=m.get("starttime"),
                             came_from=dict(m.get("from", {}))) for m in d.get("moved", [])],
                placed=dict(d.get("placed") or {}),
                files=d.get("files"), written=d.get("written"), unit=d.get("unit"))
        except (KeyError, TypeError, ValueError) as e:
            raise ValueError(f"not a throttle record: {e}") from None
        if d.get("format", 1) == 1 and rec.moved and not rec.placed:
            # format 1 put moved processes at the same path in every hierarchy
            rec.placed = {k: rec.cgroup for m in rec.moved for k in m.came_from}
        return rec


def _record_file(state_dir: str, cgroup: str) -> str:
    return os.path.join(state_dir, urllib.parse.quote(cgroup, safe="") + ".json")


def save(state_dir: str, rec: Record) -> None:
    """Write the record atomically: a new file renamed over the old (rename(2))."""
    path = _record_file(state_dir, rec.cgroup)
    tmp = f"{path}.{os.getpid()}.tmp"
    data = json.dumps(rec.to_json(), indent=1, sort_keys=True).encode()
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


def _load(path: str) -> Record | None:
    try:
        with open(path, "rb") as f:
            data = json.loads(f.read())
        return Record.from_json(data) if isinstance(data, dict) else None
    except FileNotFoundError:
        return None
    except ValueError:
        raise NsscopeError(f"{path}: not a record nsscope can read; remove it by hand") \
            from None


def records(state_dir: str = STATE_DIR) -> list[Record]:
    """Every limit nsscope has set and not reset on this host."""
    try:
        names = sorted(os.listdir(state_dir))
    except FileNotFoundError:
        return []
    out = []
    for name in names:
        if name.endswith(".json"):
            rec = _load(os.path.join(state_dir, name))
            if rec is not None:
                out.append(rec)
    return out


def record_for(cgroup: str, state_dir: str = STATE_DIR) -> Record | None:
    return _load(_record_file(state_dir, cgroup))


def drop(state_dir: str, cgroup: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(_record_file(state_dir, cgroup))


@contextlib.contextmanager
def locked(state_dir: str = STATE_DIR) -> Iterator[None]:
    """The host-wide throttle lock (flock(2) on STATE_DIR/.lock, released if we die)."""
    try:
        os.makedirs(state_dir, mode=0o755, exist_ok=True)
        fd = os.open(os.path.join(state_dir, ".lock"), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC,
                     0o644)
    except PermissionError as e:
        # said as what it is: nsscope's records are root's, and so are cgroup files
        raise AccessDenied(state_dir, f"nsscope throttle needs root: it records what it "
                                      f"changes in {state_dir}, which uid {os.geteuid()} "
                                      f"may not write ({e.filename}: permission denied)"
                           ) from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def record_of(target: Target, hst: Host, proc: str, state_dir: str) -> Record | None:
    """The record of the cgroup now limiting ``target``, if nsscope made that limit."""
    if target.cgroup is not None:
        return record_for(target.cgroup, state_dir)
    try:
        current = processes.read_process(target.pid, proc, cmdline=False).cgroups.get(
            hst.cpu.key)
    except NoSuchProcess:
        current = None
    if current is not None:
        rec = record_for(current, state_dir)
        # a container's limit is not a limit on one of its processes: `throttle PID`
        # of a process in a container nsscope limited makes a cgroup of its own
        mine = rec is not None and rec.target.container is None \
            and rec.target.container_id is None
        if mine:
            return rec
    for rec in records(state_dir):
        if rec.target.pid == target.pid and rec.target.starttime == target.starttime:
            return rec
    return None

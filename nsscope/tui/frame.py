"""What the TUI shows at one moment: a snapshot, the CPU rates, the containers.

A ``Frame`` is made in the collector thread and handed to the UI thread in a
message; nothing in it changes afterwards. Indexes the views need (children of
each cgroup, the container of each cgroup) are computed on first use and kept
with the frame.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import compress
from operator import attrgetter
from typing import Any
from collections.abc import Mapping

from nsscope.host import labels
from nsscope.host.history import CpuRates
from nsscope.host.model import NS_TYPES, Container, Process, Snapshot
from nsscope.host.queries import cgroup_children

TYPE_CHECKING = False
if TYPE_CHECKING:
    from nsscope.host.usage import Usage


_KERNEL_THREAD = attrgetter("kernel_thread")


def _members_below(snap: Snapshot, path: str) -> tuple[int, ...]:
    prefix = path.rstrip("/") + "/"
    pids: set[int] = set()
    for p, cg in snap.cgroups.items():
        if p == path or p.startswith(prefix):
            pids.update(cg.procs)
    return tuple(sorted(pids))


# --- the frame ----------------------------------------------------------------------

@dataclass(frozen=True)
class Frame:
    snapshot: Snapshot
    #: the latest CPU rates per cgroup path (empty on the first frame)
    rates: Mapping[str, CpuRates]
    containers: tuple[Container, ...]
    #: 1, 2, 3… in the order the collector made them
    seq: int = 0
    #: CPU %, RSS and I/O rates of the processes on screen (host/usage.py), read only
    #: when the frame is of this host now: empty for a scenario or a recording
    usage: Mapping[int, Usage] = field(default_factory=dict)
    #: for a recording: which file and moment this is (the status line says it)
    moment: str = ""
    _cache: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @staticmethod
    def of(snapshot: Snapshot, rates: Mapping[str, CpuRates], seq: int = 0,
           usage: Mapping[int, Usage] | None = None, moment: str = "") -> Frame:
        return Frame(snapshot=snapshot, rates=rates, containers=snapshot.containers, seq=seq,
                     usage=usage or {}, moment=moment)

    def cached(self, name: str, make) -> Any:
        """``make()`` once per frame (the cache is filled from the UI thread only)."""
        v = self._cache.get(name)
        if v is None:
            v = self._cache[name] = make()
        return v

    # --- lookups the views share

    def process(self, pid: int | None) -> Process | None:
        return None if pid is None else self.snapshot.processes.get(pid)

    def kernel_threads(self) -> frozenset[int]:
        """The pids of the kernel threads (the outlines fold them into one row)."""
        procs = self.snapshot.processes
        # in C (compress, map, attrgetter): a Python loop over 10,000 processes a frame
        # cost more than the rest of the fold
        return self.cached("kernel_threads", lambda: frozenset(
            compress(procs.keys(), map(_KERNEL_THREAD, procs.values()))))

    def container(self, key: str) -> Container | None:
        return self.cached("containers_by_key",
                           lambda: {c.key: c for c in self.containers}).get(key)

    def cgroup_children(self) -> dict[str | None, list[str]]:
        """Parent path -> its children's paths (queries.cgroup_children, by path)."""
        return self.cached("cgroup_children", lambda: {
            parent: [cg.path for cg in kids]
            for parent, kids in cgroup_children(self.snapshot).items()})

    def members(self, c: Container) -> tuple[int, ...]:
        """The processes of a container: its cgroup and those below, or its known pids."""
        if c.pids:
            return c.pids
        if c.cgroup is None:
            return (c.pid,) if c.pid is not None else ()
        return self.cached(f"members:{c.key}", lambda: _members_below(self.snapshot, c.cgroup))

    def container_of(self, pid: int) -> Container | None:
        def make() -> dict[int, Container]:
            out: dict[int, Container] = {}
            for c in self.containers:
                for m in self.members(c):
                    out.setdefault(m, c)
            return out
        return self.cached("container_of", make).get(pid)

    def container_of_cgroup(self, path: str | None, own: bool = False) -> Container | None:
        """The container whose cgroup is ``path`` (``own``) or its nearest ancestor
        (host/labels.py by_cgroup and owner: every view names it the same way)."""
        if path is None:
            return None
        index = self.cached("containers_by_cgroup", lambda: labels.by_cgroup(self.containers))
        return index.get(path) if own else labels.owner(path, index)

    def containers_in(self, ino: int) -> list[Container]:
        """The containers whose main process is in namespace ``ino`` (sandboxes too)."""
        def make() -> dict[int, list[Container]]:
            out: dict[int, list[Container]] = {}
            for c in self.containers:
                p = self.process(c.pid)
                if p is None:
                    continue
                for n in set(p.ns.values()):
                    out.setdefault(n, []).append(c)
            return out
        return self.cached("containers_by_ns", make).get(ino, [])

    def cpu_cgroup(self, pid: int) -> str | None:
        p = self.process(pid)
        return p.cgroup_for("cpu") if p is not None else None

    def shared_with_host(self, pid: int) -> dict[str, bool]:
        """Namespace type -> True when the process shares the host's (initial) one."""
        p = self.process(pid)
        host = self.snapshot.host_ns
        if p is None:
            return {}
        return {t: p.ns.get(t) == host.get(t) for t in NS_TYPES if t in p.ns}

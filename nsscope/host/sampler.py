"""Snapshots one after another, re-reading only what is cheap to re-read.

``collector.collect()`` reads everything: at 1,000 processes that is about
100 ms of /proc reads, too much to repeat every second in a live view. A
``Sampler`` keeps the previous snapshot and, each time:

- lists /proc (one getdents) and reads only the processes that are new (and
  those once more the next time, in case they were caught between fork and
  unshare/exec); known ones are re-read a slice at a time (``cycle`` seconds
  for all), which catches a later setns, a cgroup move or a pid reused behind
  our back;
- re-reads every cgroup's members and CPU/memory/pids figures (the numbers
  that move; a few files per cgroup);
- rebuilds the namespace membership from the processes, but walks the
  namespace graph (ioctls for owners and parents) only for namespaces that
  appeared, and the whole graph with the open fds every ``cycle`` seconds.

The snapshots are the same immutable ``Snapshot`` that ``collect`` returns;
unchanged ``Process`` records are shared between consecutive ones.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Mapping

from nsscope.host import cgroups, containers, namespaces, processes
from nsscope.host.collector import Roots, uptime
from nsscope.errors import NoSuchProcess
from nsscope.host.model import Cgroup, Namespace, Process, Snapshot


class Sampler:
    def __init__(self, roots: Roots = Roots(), *, cycle: float = 120.0, fds: bool = True,
                 settle: float = 2.0, clock=time.monotonic) -> None:
        self.roots = roots
        self.cycle = cycle
        #: on a host where processes come and go every second, namespace members and
        #: container recognition are redone at most this often (each costs tens of
        #: ms at 1,000 processes)
        self.settle = settle
        self.fds = fds
        self._clock = clock
        self._procs: dict[int, Process] = {}
        self._order: list[int] = []  # round-robin order of the refresh
        self._cursor = 0
        self._stale: set[int] = set()
        self._young: set[int] = set()
        self._graph: dict[int, Namespace] = {}
        self._graph_at = -math.inf
        self._hierarchies: tuple = ()
        self._hierarchies_at = -math.inf
        self._mode: str | None = None
        self._members: dict[str, tuple[int, ...]] | None = None
        self._ns_at = -math.inf
        self._containers_at = -math.inf
        self._cgroup_paths: frozenset[str] = frozenset()
        #: a process that may make or unmake a container came, went or moved since
        #: containers were last recognised (see _notable)
        self._notable = True
        self._last_tick: float | None = None
        self.last: Snapshot | None = None

    def refresh(self, pids: Iterable[int] = ()) -> None:
        """Re-read these processes next time (an action just moved or changed them);
        with no pids, re-read everything next time."""
        pids = list(pids)
        if pids:
            self._stale.update(pids)
        else:
            self._procs = {}
            self._graph_at = -math.inf
            self._hierarchies_at = -math.inf

    def _read(self, pid: int) -> Process | None:
        try:
            return processes.read_process(pid, self.roots.proc)
        except NoSuchProcess:
            return None
        except (ValueError, IndexError):
            return None  # a stat line cut short by an exiting process
        except OSError:
            return None  # EACCES on a hardened /proc (hidepid=), EIO on a dying task

    def _processes(self, now: float) -> tuple[dict[int, Process], bool]:
        """The processes now, and whether a namespace link or a cgroup membership may
        have changed (a process came, went, or was re-read with other ones)."""
        pids = processes.list_pids(self.roots.proc)
        old = self._procs
        out: dict[int, Process] = {}
        changed = False
        host = self.last.host_ns if self.last is not None else None
        # how many known processes to re-read this time: all of them over one cycle
        elapsed = now - self._last_tick if self._last_tick is not None else self.cycle
        share = min(1.0, max(elapsed, 0.0) / self.cycle) if self.cycle > 0 else 1.0
        budget = math.ceil(len(old) * share)
        # the processes first read last time are read once more: one caught between
        # fork and its unshare/setns/exec (unshare(1), a runtime's init) settles
        refresh: set[int] = set(self._stale) | self._young
        self._stale.clear()
        if budget and self._order:
            n = len(self._order)
            start = self._cursor % n
            for i in range(min(budget, n)):
                refresh.add(self._order[(start + i) % n])
            self._cursor = (start + budget) % n
        for pid in pids:
            p = old.get(pid)
            if p is None or pid in refresh:
                q = self._read(pid)
                if q is None:
                    if p is not None:
                        changed = True
                        self._notable = self._notable or _notable(p, host)
                    continue
                if p is None:
                    changed = True
                    self._notable = self._notable or _notable(q, host)
                elif q.ns != p.ns or q.cgroups != p.cgroups:
                    changed = True  # namespaces or cgroup membership moved
                    self._notable = True
                elif q == p:
                    q = p  # keep sharing the old record
                out[pid] = q
            else:
                out[pid] = p
        self._young = {pid for pid in out if pid not in old}
        if out.keys() != old.keys():
            self._order = list(out)
            changed = True
            if not self._notable:
                self._notable = any(_notable(p, host) for pid, p in old.items()
                                    if pid not in out)
        self._procs = out
        return out, changed

    def _namespaces(self, procs: dict[int, Process], now: float,
                    changed: bool) -> dict[int, Namespace]:
        last = self.last
        if last is not None and now - self._graph_at < self.cycle and (
                not changed or now - self._ns_at < self.settle):
            return dict(last.namespaces)
        self._ns_at = now
        light = namespaces.build(procs, self.roots.proc, graph=False, fds=False)
        if now - self._graph_at >= self.cycle:
            self._graph = namespaces.build(procs, self.roots.proc, fds=self.fds)
            self._graph_at = now
            return dict(self._graph)
        new = [ino for ino in light if ino not in self._graph]
        if new:
            # owners and parents of the new namespaces only: the graph walk of the
            # processes in them (NS_GET_USERNS / NS_GET_PARENT ioctls), no fd scan
            members = {pid for ino in new for pid in light[ino].pids}
            some = {pid: procs[pid] for pid in members if pid in procs}
            found = namespaces.build(some, self.roots.proc, fds=False)
            self._graph.update({ino: ns for ino, ns in found.items()
                                if ino not in self._graph})
        # owners, parents and holders from the graph, members from now; a
        # processless namespace the last full walk found (kept by a bind mount
        # or an fd) is still listed
        out: dict[int, Namespace] = {}
        for ino, now_ns in light.items():
            g = self._graph.get(ino)
            out[ino] = now_ns if g is None else Namespace(
                ino=ino, type=now_ns.type, pids=now_ns.pids, owner=g.owner, parent=g.parent,
                owner_uid=g.owner_uid, nsfs=now_ns.nsfs or g.nsfs,
                holders=now_ns.holders or g.holders, netnsid=g.netnsid)
        for ino, g in self._graph.items():
            if ino not in out and not g.pids:
                out[ino] = g
        return out

    def sample(self) -> Snapshot:
        now = self._clock()
        up = uptime(self.roots.proc)
        procs, changed = self._processes(now)
        nss = self._namespaces(procs, now, changed)
        if now - self._hierarchies_at >= self.cycle:
            self._hierarchies = cgroups.hierarchies(self.roots.cgroup, self.roots.proc)
            self._mode = cgroups.detect_mode(self.roots.cgroup, self.roots.proc)
            self._hierarchies_at = now
        cgs = cgroups.build(self._hierarchies, figures=True, members=False)
        cgs = self._with_members(cgs, procs, changed)
        snap = Snapshot(
            processes=Snapshot.freeze(procs),
            namespaces=Snapshot.freeze(nss),
            cgroups=Snapshot.freeze(cgs),
            cgroup_mode=self._mode or "none",
            hierarchies=self._hierarchies,
            host_ns=namespaces.host_namespaces(procs),
            uptime=up,
            cpu_pressure=cgroups.host_pressure(self.roots.proc),
            hidden=tuple(pid for pid, p in procs.items() if not p.visible),
        )
        paths = frozenset(cgs)
        snap = snap._replace(containers=self._containers(snap, now,
                                                        paths != self._cgroup_paths))
        self._cgroup_paths = paths
        self._last_tick = now
        self.last = snap
        return snap

    def _with_members(self, cgs: dict[str, Cgroup], procs: dict[int, Process],
                      changed: bool) -> dict[str, Cgroup]:
        """Each cgroup's members from the processes' /proc/PID/cgroup (the same sets
        cgroup.procs lists, kernel threads in the root included), computed again only
        when a process came, went or was re-read."""
        if changed or self._members is None:
            members: dict[str, set[int]] = {}
            for pid, p in procs.items():
                for path in set(p.cgroups.values()):
                    members.setdefault(path, set()).add(pid)
            self._members = {path: tuple(sorted(m)) for path, m in members.items()}
        got = self._members
        return {path: cg._replace(procs=got.get(path, ())) for path, cg in cgs.items()}

    def _containers(self, snap: Snapshot, now: float, new_cgroups: bool) -> tuple:
        """Containers and sandboxes, recognised again when a process in namespaces of
        its own came, went or moved, or cgroups came or went (their cgroups and runtime
        state files are what recognition reads), at most every ``settle`` seconds."""
        last = self.last
        if last is not None:
            gone = any(c.pid is not None and c.pid not in snap.processes
                       for c in last.containers)
            # a process in the host's namespaces coming or going (a shell's
            # `sleep`, a test's subprocess) makes no container: recognition
            # (tens of ms at 1,000 processes) waits for one that may
            if not (self._notable or new_cgroups or gone) \
                    or now - self._containers_at < self.settle:
                return last.containers
        self._containers_at = now
        self._notable = False
        return containers.find(snap, self.roots.proc, self.roots.state)


def _notable(p: Process, host: Mapping[str, int] | None) -> bool:
    """Whether a process coming or going may make or unmake a container or sandbox:
    one in a namespace that is not the host's (every runtime's container and every
    sandbox has at least its own mount namespace). One whose links could not be read
    (exiting, hidden: no ``ns``) counts as the host's, as recognition treats it."""
    if host is None:
        return True
    return any(host.get(t, ino) != ino for t, ino in p.ns.items())

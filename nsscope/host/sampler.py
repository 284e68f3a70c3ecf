"""Snapshots one after another, re-reading only what changed.

``collector.collect()`` reads everything: at 10,000 processes that is about a
second of /proc reads, too much to repeat every second in a live view. A
``Sampler`` keeps what it read and, each time:

- lists /proc only when a task may have come or gone (/proc/loadavg's thread
  count and last pid moved), and compares the listing with the last one as a
  set; it reads only the processes that are new (and those once more the next
  time, in case they were caught between fork and unshare/exec); known ones
  are re-read a slice at a time (``cycle`` seconds for all), which catches a
  later setns, a cgroup move or a pid reused behind our back;
- keeps the namespace and cgroup memberships as indexes that each process
  read, come or gone updates: a process that did not change costs nothing;
- re-reads every cgroup's CPU/memory/pids figures (the numbers that move; a
  few files per cgroup, however many processes there are);
- walks the namespace graph (ioctls for owners and parents) only for
  namespaces that appeared, and the whole graph with the open fds every
  ``cycle`` seconds; recognises containers again only when a process in
  namespaces of its own came, went or moved, or cgroups came or went, and
  then never more than a twentieth of the time (recognition looks at every
  process).

The snapshots are the same immutable ``Snapshot`` that ``collect`` returns;
unchanged ``Process`` records, and the mappings themselves when nothing in
them changed, are shared between consecutive ones: nothing a snapshot holds
is changed after it was handed out.
"""

from __future__ import annotations

import math
import os
import time
from bisect import bisect_left

from nsscope.host import cgroups, containers, namespaces, processes
from nsscope.host.collector import Roots, uptime
from nsscope.host.kept_files import KeptFiles
from nsscope.errors import NoSuchProcess
from nsscope.host.model import Namespace, Process, Snapshot

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

#: the *_for_children links and the type of the namespace they name
_FOR_CHILDREN = {"pid_for_children": "pid", "time_for_children": "time"}


class Sampler:
    def __init__(self, roots: Roots = Roots(), *, cycle: float = 120.0, fds: bool = True,
                 settle: float = 2.0, clock=time.monotonic, cgroup_tree: bool = True) -> None:
        self.roots = roots
        #: False: the snapshots have no cgroup tree (``cgroups`` empty), for a caller that
        #: reads the few cgroups it wants itself (serve's CgroupReader) and would pay for
        #: the walk of every hierarchy for nothing; containers are then recognised again
        #: when the set of cgroups processes are in changes
        self.cgroup_tree = cgroup_tree
        self.cycle = cycle
        #: on a host where processes come and go every second, the nsfs mounts and
        #: container recognition are redone at most this often
        self.settle = settle
        self.fds = fds
        self._clock = clock
        self._procs: dict[int, Process] = {}
        self._names: set[str] = set()  # /proc's entries at the last listing
        self._unread: set[int] = set()  # listed, but could not be read: tried again
        self._loadavg: tuple[str, str] | None = None  # (threads, last pid) then
        self._loadavg_ok: bool | None = None
        self._order: list[int] = []  # round-robin order of the refresh
        self._cursor = 0
        self._stale: set[int] = set()
        self._young: set[int] = set()
        self._hidden: set[int] = set()
        # namespace membership, kept in step with _procs (see _index); member lists
        # are kept sorted (bisect), so a host namespace of 10,000 members is not
        # sorted again whenever one of them comes or goes
        self._ns_members: dict[int, list[int]] = {}
        self._ns_children: dict[int, dict[int, str]] = {}  # ino -> {pid: *_for_children link}
        self._ns_type: dict[int, str] = {}
        self._ns_dirty: set[int] = set()
        self._mounts: dict[int, tuple[str, list[str]]] = {}
        self._mounts_at = -math.inf
        self._graph: dict[int, Namespace] = {}
        self._graph_at = -math.inf
        self._nss: dict[int, Namespace] = {}
        # cgroup membership from the processes' /proc/PID/cgroup (sorted lists)
        self._cg_members: dict[str, list[int]] = {}
        self._cg_dirty: set[str] = set()
        self._cg_procs: dict[str, tuple[int, ...]] = {}
        #: every cgroup's figure files, read through descriptors kept open
        self._files = KeptFiles()
        self._hierarchies: tuple = ()
        self._hierarchies_at = -math.inf
        self._mode: str | None = None
        self._containers_at = -math.inf
        self._containers_next = -math.inf
        self._cgroup_paths: frozenset[str] = frozenset()
        #: a process that may make or unmake a container came, went or moved since
        #: containers were last recognised (see _notable)
        self._notable = True
        self._last_tick: float | None = None
        self.last: Snapshot | None = None

    def close(self) -> None:
        """Close the cgroup files kept open."""
        self._files.close()

    def refresh(self, pids: Iterable[int] = ()) -> None:
        """Re-read these processes next time (an action just moved or changed them);
        with no pids, re-read everything next time."""
        pids = list(pids)
        self._files.retry_absent()  # e.g. a throttle enabled cpu: its files appeared
        if pids:
            self._stale.update(pids)
        else:
            self._stale.update(self._procs)
            self._loadavg = None
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

    # --- which processes came and went ---------------------------------------------

    def _tasks_moved(self) -> bool:
        """Whether a task may have been created or reaped since the last listing.

        /proc/loadavg ends with the number of tasks and the last pid allocated in
        the reader's pid namespace (fs/proc/loadavg.c: nr_threads, the pid idr's
        cursor): a fork or clone moves the pid, a reaped task the count, so when
        neither moved, /proc lists the same processes and need not be listed. Only
        trusted when this /proc is our pid namespace's (/proc/self is our pid)."""
        proc = self.roots.proc
        if self._loadavg_ok is None:
            try:
                self._loadavg_ok = os.readlink(f"{proc}/self") == str(os.getpid())
            except OSError:
                self._loadavg_ok = False
        if not self._loadavg_ok:
            return True
        try:
            with open(f"{proc}/loadavg", "rb") as f:
                fields = f.read().split()
            now = (fields[3].partition(b"/")[2].decode(), fields[4].decode())
        except (OSError, IndexError):
            return True
        moved, self._loadavg = now != self._loadavg, now
        return moved

    def _processes(self, now: float) -> tuple[dict[int, Process], bool]:
        """The processes now, and whether any came, went or changed (their namespace
        links, cgroups, command …); the indexes follow every change."""
        old = self._procs
        new_pids: list[int] = []
        gone: list[int] = []
        if self._tasks_moved():
            names = set(os.listdir(self.roots.proc))
            if names != self._names:
                new_pids = [int(n) for n in names - self._names if n.isdigit()]
                gone = [int(n) for n in self._names - names if n.isdigit() and int(n) in old]
                self._unread.difference_update(int(n) for n in self._names - names
                                               if n.isdigit())
                self._names = names
        if self._unread:
            new_pids.extend(self._unread)
            self._unread = set()
        # how many known processes to re-read this time: all of them over one cycle
        elapsed = now - self._last_tick if self._last_tick is not None else self.cycle
        share = min(1.0, max(elapsed, 0.0) / self.cycle) if self.cycle > 0 else 1.0
        budget = math.ceil(len(old) * share)
        # the processes first read last time are read once more: one caught between
        # fork and its unshare/setns/exec (unshare(1), a runtime's init) settles
        refresh: set[int] = (self._stale | self._young) & old.keys()
        self._stale.clear()
        if budget and self._order:
            n = len(self._order)
            start = self._cursor % n
            for i in range(min(budget, n)):
                refresh.add(self._order[(start + i) % n])
            self._cursor = (start + budget) % n
        host = self.last.host_ns if self.last is not None else None
        changes: list[tuple[int, Process | None, Process | None]] = []
        for pid in gone:
            refresh.discard(pid)
            changes.append((pid, old[pid], None))
        for pid in sorted(new_pids):  # ascending, as /proc lists them
            if pid in old:
                continue
            q = self._read(pid)
            if q is not None:
                changes.append((pid, None, q))
            elif str(pid) in self._names:
                self._unread.add(pid)  # hidden (hidepid=) or caught exiting: next time
        self._young = {pid for pid, _, q in changes if q is not None}
        for pid in refresh:
            p = old[pid]
            q = self._read(pid)
            if q is None:
                changes.append((pid, p, None))
            elif q != p:
                changes.append((pid, p, q))
        if not changes:
            return old, False
        procs = dict(old)  # a snapshot handed out holds the old dict: never changed after
        top = next(reversed(old), 0)  # the highest pid: the dict is kept ascending
        for pid, before, after in changes:
            if before is not None:
                self._unindex(before)
            if after is not None:
                self._index(after)
                procs[pid] = after  # a changed process keeps its place
            else:
                del procs[pid]
            if before is None or after is None:
                either = after if before is None else before
                self._notable = self._notable or (either is not None and _notable(either, host))
            elif after.ns != before.ns or after.cgroups != before.cgroups:
                self._notable = True  # namespaces or cgroup membership moved
        if any(before is None and after is not None and pid < top
               for pid, before, after in changes):
            procs = dict(sorted(procs.items()))  # ascending pids, as /proc lists them
        if procs.keys() != old.keys():
            self._order = list(procs)
        self._procs = procs
        return procs, True

    def _index(self, p: Process) -> None:
        pid = p.pid
        for link, ino in p.ns.items():
            typ = _FOR_CHILDREN.get(link)
            if typ is None:
                _add(self._ns_members, ino, pid)
                self._ns_type[ino] = link
            else:
                self._ns_children.setdefault(ino, {})[pid] = link
                self._ns_type.setdefault(ino, typ)
            self._ns_dirty.add(ino)
        for path in set(p.cgroups.values()):
            _add(self._cg_members, path, pid)
            self._cg_dirty.add(path)
        if not p.visible:
            self._hidden.add(pid)

    def _unindex(self, p: Process) -> None:
        pid = p.pid
        for link, ino in p.ns.items():
            if link in _FOR_CHILDREN:
                kids = self._ns_children.get(ino)
                if kids is not None:
                    kids.pop(pid, None)
                    if not kids:
                        del self._ns_children[ino]
            else:
                _discard(self._ns_members, ino, pid)
            if ino not in self._ns_members and ino not in self._ns_children:
                self._ns_type.pop(ino, None)
            self._ns_dirty.add(ino)
        for path in set(p.cgroups.values()):
            _discard(self._cg_members, path, pid)
            self._cg_dirty.add(path)
        self._hidden.discard(pid)

    # --- namespaces ---------------------------------------------------------------

    def _light(self, ino: int) -> Namespace | None:
        """What the processes and nsfs mounts say of ``ino`` now (no graph: owner,
        parent and netns id unknown), as namespaces.build(graph=False, fds=False)."""
        members = self._ns_members.get(ino)
        kids = self._ns_children.get(ino)
        mount = self._mounts.get(ino)
        if not members and not kids and mount is None:
            return None
        typ = self._ns_type.get(ino) or (mount[0] if mount is not None else "")
        proc = self.roots.proc
        holders = () if members or not kids else tuple(
            f"{proc}/{pid}/ns/{link}" for pid, link in sorted(kids.items()))
        return Namespace(ino, typ, tuple(members) if members else (), None, None, None,
                         tuple(mount[1]) if mount is not None else (), holders, None)

    def _merged(self, ino: int) -> Namespace | None:
        """Members and holders from now, owners and parents from the graph; a
        processless namespace the last full walk found (kept by a bind mount or an
        fd) is still listed."""
        now = self._light(ino)
        g = self._graph.get(ino)
        if now is None:
            return g if g is not None and not g.pids else None
        if g is None:
            return now
        return Namespace(ino, now.type, now.pids, g.owner, g.parent, g.owner_uid,
                         now.nsfs or g.nsfs, now.holders or g.holders, g.netnsid)

    def _namespaces(self, procs: dict[int, Process], now: float,
                    changed: bool) -> Mapping[int, Namespace]:
        last = self.last
        proc = self.roots.proc
        if now - self._graph_at >= self.cycle:
            # the whole graph, with the namespaces only open fds keep
            self._graph = namespaces.build(procs, proc, fds=self.fds)
            self._graph_at = self._mounts_at = now
            self._mounts = {ns.ino: (ns.type, list(ns.nsfs)) for ns in self._graph.values()
                            if ns.nsfs}
            self._ns_dirty.clear()
            self._nss = dict(self._graph)
            return self._nss
        dirty = self._ns_dirty
        if changed and now - self._mounts_at >= self.settle:
            # one mountinfo per mount namespace shows every nsfs mount (ip netns add)
            mnt_reps = [pids[0] for ino, pids in self._ns_members.items()
                        if self._ns_type.get(ino) == "mnt"]
            mounts = namespaces.nsfs_mounts(mnt_reps, proc)
            dirty.update(ino for ino in mounts.keys() ^ self._mounts.keys())
            dirty.update(ino for ino in mounts.keys() & self._mounts.keys()
                         if mounts[ino] != self._mounts[ino])
            self._mounts, self._mounts_at = mounts, now
        if not dirty and last is not None:
            return last.namespaces
        new = [ino for ino in dirty if ino not in self._graph and self._ns_members.get(ino)]
        if new:
            # owners and parents of the new namespaces only: the graph walk of the
            # processes in them (NS_GET_USERNS / NS_GET_PARENT ioctls), no fd scan
            members = {pid for ino in new for pid in self._ns_members[ino]}
            some = {pid: procs[pid] for pid in sorted(members) if pid in procs}
            found = namespaces.build(some, proc, fds=False)
            for ino, ns in found.items():
                if ino not in self._graph:
                    self._graph[ino] = ns
                    dirty.add(ino)
        nss = dict(self._nss)
        for ino in dirty:
            merged = self._merged(ino)
            if merged is None:
                nss.pop(ino, None)
            else:
                nss[ino] = merged
        dirty.clear()
        self._nss = nss
        return nss

    # --- cgroups ------------------------------------------------------------------

    def _cgroup_members(self) -> Mapping[str, tuple[int, ...]]:
        """Each cgroup's members from the processes' /proc/PID/cgroup (the same sets
        cgroup.procs lists, kernel threads in the root included)."""
        if self._cg_dirty:
            procs_of = dict(self._cg_procs)
            for path in self._cg_dirty:
                members = self._cg_members.get(path)
                if members:
                    procs_of[path] = tuple(members)
                else:
                    procs_of.pop(path, None)
            self._cg_dirty.clear()
            self._cg_procs = procs_of
        return self._cg_procs

    # --- a sample -----------------------------------------------------------------

    def sample(self) -> Snapshot:
        now = self._clock()
        procs, changed = self._processes(now)
        nss = self._namespaces(procs, now, changed)
        if now - self._hierarchies_at >= self.cycle:
            self._hierarchies = cgroups.hierarchies(self.roots.cgroup, self.roots.proc)
            self._mode = cgroups.detect_mode(self.roots.cgroup, self.roots.proc)
            self._hierarchies_at = now
        # the time of the readings the rates divide by: taken just before the cgroup
        # files, not before the processes (whose reading takes from 1 ms to a few
        # hundred, as they come and go: an uptime read that far from the counters
        # it times made one busy thread read 115 %, then 85 %)
        up = uptime(self.roots.proc)
        # the tree and its figures every time (they move); members from the processes
        if self.cgroup_tree:
            self._files.next_round()
            cgs = cgroups.build(self._hierarchies, figures=True, members=False,
                                procs_of=self._cgroup_members(), read=self._files.read)
            paths = frozenset(cgs)
        else:
            cgs = {}
            paths = frozenset(self._cgroup_members())
        last = self.last
        snap = Snapshot(
            processes=Snapshot.freeze(procs) if changed or last is None else last.processes,
            namespaces=nss if last is not None and nss is last.namespaces
            else Snapshot.freeze(nss),  # type: ignore[arg-type]  # a dict: just made
            cgroups=Snapshot.freeze(cgs),
            cgroup_mode=self._mode or "none",
            hierarchies=self._hierarchies,
            host_ns=namespaces.host_namespaces(procs),
            uptime=up,
            cpu_pressure=cgroups.host_pressure(self.roots.proc),
            hidden=tuple(sorted(self._hidden)) if changed or last is None else last.hidden,
        )
        if paths != self._cgroup_paths:
            self._files.forget(d for path in self._cgroup_paths - paths
                               for h in self._hierarchies
                               if (d := cgroups.dir_of(h, path)) is not None)
        snap = snap._replace(containers=self._containers(snap, now,
                                                         paths != self._cgroup_paths))
        self._cgroup_paths = paths
        self._last_tick = now
        self.last = snap
        return snap

    def _containers(self, snap: Snapshot, now: float, new_cgroups: bool) -> tuple:
        """Containers and sandboxes, recognised again when a process in namespaces of
        its own came, went or moved, or cgroups came or went (their cgroups and runtime
        state files are what recognition reads), at most every ``settle`` seconds and
        at most a twentieth of the time: recognition looks at every process (~0.2 s at
        10,000), and a host that starts containers all the time must not keep the
        TUI busy with it."""
        last = self.last
        if last is not None:
            gone = any(c.pid is not None and c.pid not in snap.processes
                       for c in last.containers)
            # a process in the host's namespaces coming or going (a shell's
            # `sleep`, a test's subprocess) makes no container: recognition
            # waits for one that may
            if not (self._notable or new_cgroups or gone) or now < self._containers_next:
                return last.containers
        self._notable = False
        # timed on the sampler's own clock, as ``now`` is: a test's clock that stands
        # still while recognition runs must not see it cost the real time a loaded
        # machine took (20 x 60 ms put the next recognition past the test's next
        # step, and a sandbox came a sample late: seen once in CI)
        started = self._clock()
        found = containers.find(snap, self.roots.proc, self.roots.state)
        took = self._clock() - started
        self._containers_at = now
        self._containers_next = now + max(self.settle, 20 * took)
        return found


def _notable(p: Process, host: Mapping[str, int] | None) -> bool:
    """Whether a process coming or going may make or unmake a container or sandbox:
    one in a namespace that is not the host's (every runtime's container and every
    sandbox has at least its own mount namespace). One whose links could not be read
    (exiting, hidden: no ``ns``) counts as the host's, as recognition treats it."""
    if host is None:
        return True
    return any(host.get(t, ino) != ino for t, ino in p.ns.items())


def _add(index: dict, key: object, pid: int) -> None:
    members = index.get(key)
    if members is None:
        index[key] = [pid]
    elif not members or members[-1] < pid:
        members.append(pid)
    else:
        i = bisect_left(members, pid)
        if i == len(members) or members[i] != pid:
            members.insert(i, pid)


def _discard(index: dict, key: object, pid: int) -> None:
    members = index.get(key)
    if members is None:
        return
    i = bisect_left(members, pid)
    if i < len(members) and members[i] == pid:
        del members[i]
        if not members:
            del index[key]

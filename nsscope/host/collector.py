"""One call that takes a ``Snapshot`` of the host: a full one, or the parts a view shows."""

from __future__ import annotations

import time

from nsscope.host import cgroups as cgroupfs
from nsscope.host import namespaces as nsgraph
from nsscope.host import processes
from nsscope.host.containers.state_paths import StatePaths
from nsscope.host.model import Cgroup, Snapshot
from nsscope.kernel.abi import CGROUP_ROOT, PROC
from nsscope.records import Record


class Roots(Record):
    """Where the host's pseudo-filesystems are; a test points these at a captured tree."""

    proc: str = PROC
    cgroup: str = CGROUP_ROOT
    #: where runtimes keep their state (/var/lib/docker, /run/runc, /var/log/pods, …)
    state: StatePaths = StatePaths()
    #: a recording (``nsscope record``) to read instead of the host (``--from``), and
    #: the moment in it (``--at``: None is its end)
    recording: str | None = None
    at: str | None = None


def uptime(proc: str) -> float:
    """Seconds since boot (/proc/uptime), for rates; the monotonic clock if unreadable."""
    try:
        with open(f"{proc}/uptime") as f:
            return float(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return time.monotonic()


def collect(roots: Roots = Roots(), *, namespaces: bool = True, graph: bool = True,
            netnsid: bool = True, fds: bool = True, cgroups: bool = True,
            cgroup_figures: bool = True, cgroups_of: int | None = None,
            containers: bool = True, leaders_only: bool = False) -> Snapshot:
    """Processes, namespaces and cgroups, as they are now: by default everything.

    A view asks only for the parts it shows, and what it does not ask for is
    not read (``nsscope ls`` shows no cgroup, ``ps`` no namespace graph): what
    is left out is empty in the snapshot, never made up.

    - ``namespaces=False``: no namespaces (``{}``); ``graph=False``: owners,
      parents and netns ids unknown (no nsfs ioctls); ``netnsid=False``: netns
      ids unknown (no netlink); ``fds=False``: namespaces that only an open fd
      keeps are not looked for (no walk of every /proc/PID/fd).
    - ``cgroups=False``: no cgroup tree (``{}``), no host PSI; ``cgroups_of=PID``:
      only the cgroups PID is in, each as the whole tree would have it;
      ``cgroup_figures=False``: members only. The processes' own cgroup paths
      (/proc/PID/cgroup) and the hierarchies are read whenever cgroups or
      containers are asked for, the cgroup mode with cgroups ("none" without).
    - ``containers=False``: no container recognition (``()``).
    - ``leaders_only=True`` (with neither cgroups nor containers): ``processes``
      holds only each namespace's first member, the process a namespace list
      shows for it (and pids 1 and 2, and the hidden ones); every namespace's
      members, holders and the hidden pids are still complete. For ``nsscope ls``:
      a process that leads no namespace is read for its links only.

    Nothing here raises for a process that vanished, a zombie, a kernel thread
    or a file the caller may not read: those are the normal state of a host.

    With ``roots.recording`` (a view's ``--from FILE``) the snapshot is the one
    recorded at ``roots.at``, whole: the parts not asked for are there too.
    """
    if roots.recording is not None:
        from nsscope.host.recording.reader import recorded_snapshot
        return recorded_snapshot(roots.recording, roots.at)
    up = uptime(roots.proc)
    want_cgroups = cgroups or cgroups_of is not None
    if leaders_only:
        if want_cgroups or containers:
            raise ValueError("leaders_only: cgroups and containers need every process")
        procs, links = processes.read_leaders(roots.proc)
        hidden = [pid for pid, p in procs.items() if not p.visible]
        nss = nsgraph.from_links(links, [pid for pid in links if pid not in hidden],
                                 roots.proc, graph=graph, fds=fds,
                                 netnsid=netnsid) if namespaces else {}
    else:
        procs = processes.read_processes(roots.proc, cgroups=want_cgroups or containers)
        nss = nsgraph.build(procs, roots.proc, graph=graph, fds=fds,
                            netnsid=netnsid) if namespaces else {}
    hs: tuple = ()
    mode = "none"
    cgs: dict[str, Cgroup] = {}
    if want_cgroups or containers:
        hs = cgroupfs.hierarchies(roots.cgroup, roots.proc)
    if want_cgroups:
        mode = cgroupfs.detect_mode(roots.cgroup, roots.proc)
    if cgroups_of is not None:
        p = procs.get(cgroups_of)
        for path in sorted(set(p.cgroups.values()) if p is not None else ()):
            cg = cgroupfs.read_cgroup(hs, path, figures=cgroup_figures)
            if cg is not None:
                cgs[path] = cg
    elif cgroups:
        cgs = cgroupfs.build(hs, figures=cgroup_figures)
    snap = Snapshot(
        processes=procs,
        namespaces=nss,
        cgroups=cgs,
        cgroup_mode=mode,
        hierarchies=hs,
        host_ns=nsgraph.host_namespaces(procs),
        uptime=up,
        cpu_pressure=cgroupfs.host_pressure(roots.proc) if cgroups else None,
        hidden=tuple(pid for pid, p in procs.items() if not p.visible),
    )
    if not containers:
        return snap
    # containers are recognised from the finished snapshot plus runtime state files
    # (imported here: a view without containers, such as `nsscope ls`, skips the
    # recogniser's modules)
    from nsscope.host.containers.recognise import find
    return snap._replace(containers=find(snap, roots.proc, roots.state))


def roots_of(args: object) -> Roots:
    """The roots a CLI invocation names (hidden --proc/--cgroup-root, for captured trees;
    --from/--at, for a recording)."""
    return Roots(proc=getattr(args, "proc", PROC),
                 cgroup=getattr(args, "cgroup_root", CGROUP_ROOT),
                 recording=getattr(args, "from_file", None), at=getattr(args, "at", None))

"""One call that takes a full ``Snapshot`` of the host."""

from __future__ import annotations

import time
from dataclasses import dataclass, replace

from nsscope.host import cgroups, containers, namespaces, processes
from nsscope.host.model import Snapshot
from nsscope.kernel.abi import CGROUP_ROOT, PROC


@dataclass(frozen=True)
class Roots:
    """Where the host's pseudo-filesystems are; a test points these at a captured tree."""

    proc: str = PROC
    cgroup: str = CGROUP_ROOT
    #: where runtimes keep their state (/var/lib/docker, /run/runc, /var/log/pods, …)
    state: containers.StatePaths = containers.StatePaths()


def uptime(proc: str) -> float:
    """Seconds since boot (/proc/uptime), for rates; the monotonic clock if unreadable."""
    try:
        with open(f"{proc}/uptime") as f:
            return float(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return time.monotonic()


def collect(roots: Roots = Roots(), *, cgroup_figures: bool = True,
            fds: bool = True) -> Snapshot:
    """Processes, namespaces and cgroups, as they are now.

    Nothing here raises for a process that vanished, a zombie, a kernel thread
    or a file the caller may not read: those are the normal state of a host.
    """
    up = uptime(roots.proc)
    procs = processes.read_processes(roots.proc)
    nss = namespaces.build(procs, roots.proc, fds=fds)
    hs = cgroups.hierarchies(roots.cgroup, roots.proc)
    cgs = cgroups.build(hs, figures=cgroup_figures)
    snap = Snapshot(
        processes=procs,
        namespaces=nss,
        cgroups=cgs,
        cgroup_mode=cgroups.detect_mode(roots.cgroup, roots.proc),
        hierarchies=hs,
        host_ns=namespaces.host_namespaces(procs),
        uptime=up,
        cpu_pressure=cgroups.host_pressure(roots.proc),
        hidden=tuple(pid for pid, p in procs.items() if not p.visible),
    )
    # containers are recognised from the finished snapshot plus runtime state files
    return replace(snap, containers=containers.find(snap, roots.proc, roots.state))


def roots_of(args: object) -> Roots:
    """The roots a CLI invocation names (hidden --proc/--cgroup-root, for captured trees)."""
    return Roots(proc=getattr(args, "proc", PROC),
                 cgroup=getattr(args, "cgroup_root", CGROUP_ROOT))

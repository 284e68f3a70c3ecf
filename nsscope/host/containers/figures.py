"""The cgroup figures a container record carries: the CPU quota that binds it (its
own or an ancestor's) and whether the freezer has paused it.
"""

from __future__ import annotations

import os

from nsscope.host import cgroups
from nsscope.host.containers.files import read_text
from nsscope.host.model import UNIFIED, CpuStats, Hierarchy, Process, Snapshot

def cpu_of(snap: Snapshot, h: Hierarchy, path: str) -> CpuStats | None:
    cg = snap.cgroups.get(path)
    if cg is not None and cg.cpu is not None and (cg.cpu.period_usec is not None
                                                  or cg.cpu.quota_usec is not None):
        return cg.cpu
    d = cgroups.dir_of(h, path)
    if d is None or not os.path.isdir(d):
        return None
    # a snapshot taken without figures: read just this cgroup's bandwidth
    return cgroups.cpu_v2(d) if h.version == 2 else cgroups.cpu_v1(d, None)


def cpu_limit(snap: Snapshot, proc: Process,
              memo: dict[str, float | None] | None = None) -> float | None:
    """The tightest CPU quota over the process's cpu cgroup and its ancestors.

    ``memo`` (path -> limit) spares re-reading the same cgroups for many processes.
    """
    h = cgroups.hierarchy_for(snap.hierarchies, "cpu")
    if h is None:
        return None
    path = proc.cgroups.get(h.key)
    if not path:
        return None
    if memo is not None and path in memo:
        return memo[path]
    best = None
    here = path
    while True:
        cpu = cpu_of(snap, h, here)
        if cpu is not None and cpu.limit_cpus is not None:
            best = cpu.limit_cpus if best is None else min(best, cpu.limit_cpus)
        if here in ("/", "", h.root):
            break
        here = here.rsplit("/", 1)[0] or "/"
    if memo is not None:
        memo[path] = best
    return best


def is_frozen(snap: Snapshot, proc: Process, memo: dict[str, bool]) -> bool:
    """v1 freezer.state FROZEN, or v2 cgroup.events 'frozen 1' (cgroup-v2.rst)."""
    h = cgroups.hierarchy_for(snap.hierarchies, "freezer")
    if h is not None and h.version == 1:
        path, name = proc.cgroups.get(h.key, "/"), "/freezer.state"
    else:
        h = next((x for x in snap.hierarchies if x.version == 2), None)
        if h is None or UNIFIED not in proc.cgroups:
            return False
        path, name = proc.cgroups[UNIFIED], "/cgroup.events"
    if path not in memo:
        d = cgroups.dir_of(h, path)
        text = (read_text(d + name) if d else None) or ""
        memo[path] = text.strip() == "FROZEN" or "frozen 1" in text
    return memo[path]



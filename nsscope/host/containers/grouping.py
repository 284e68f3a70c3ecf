"""Helpers that group processes into containers: the main process, descendants,
which namespaces a process does not share with the host, nspawn's machine name.
"""

from __future__ import annotations

import os

from nsscope.host.containers.files import basename, option
from nsscope.host.containers.state_paths import Context
from nsscope.host.model import NS_TYPES, UNIFIED, Process, Snapshot

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable

# --- grouping -------------------------------------------------------------------

def main_pid(snap: Snapshot, pids: Iterable[int], hint: int | None = None) -> int | None:
    """The container's init: the runtime's word if it is a member, else the oldest
    member whose parent is outside."""
    members = set(pids)
    if hint is not None and hint in members:
        return hint
    tops = [snap.processes[p] for p in members if snap.processes[p].ppid not in members]
    if not tops:
        return min(members) if members else None
    return min(tops, key=lambda p: (p.starttime, p.pid)).pid


def descendants(ctx: Context, pid: int) -> set[int]:
    out, stack = set(), [pid]
    while stack:
        p = stack.pop()
        if p in out:
            continue
        out.add(p)
        stack.extend(ctx.children.get(p, ()))
    return out


def non_host(snap: Snapshot, p: Process) -> dict[str, int]:
    return {t: p.ns[t] for t in NS_TYPES
            if t in p.ns and t in snap.host_ns and p.ns[t] != snap.host_ns[t]}


def isolated(snap: Snapshot, p: Process) -> bool:
    return p.visible and not p.kernel_thread and bool(non_host(snap, p))


def identifying_cgroup(p: Process, prefer_named: bool = False) -> str | None:
    """For runtimes found without a cgroup pattern: where the main process is."""
    keys = [UNIFIED, "name=systemd"] if prefer_named else []
    for k in keys:
        path = p.cgroups.get(k)
        if path and path != "/":
            return path
    return p.cgroup_for("cpu") or p.cgroups.get(UNIFIED)


def nspawn_name(snap: Snapshot, main: Process) -> str | None:
    """systemd-nspawn's -M/--machine, else the basename of -D/--directory or -i/--image
    (systemd-nspawn(1): the machine name defaults to the directory's name)."""
    sup = snap.processes.get(main.ppid)
    if sup is None or not sup.cmdline or basename(sup.cmdline[0]) != "systemd-nspawn":
        return None
    name = option(sup.cmdline, "-M", "--machine")
    if name:
        return name
    where = option(sup.cmdline, "-D", "--directory", "-i", "--image")
    return os.path.basename(where.rstrip("/")) if where else None



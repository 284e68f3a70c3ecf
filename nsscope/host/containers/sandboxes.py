"""Sandboxes: processes isolated by no known runtime (unshare, bwrap, firejail, a
browser sandbox), grouped by their namespaces so nothing isolated is invisible.
"""

from __future__ import annotations

from nsscope.host.containers.figures import cpu_limit, is_frozen
from nsscope.host.containers.files import basename, option, readlink
from nsscope.host.containers.grouping import isolated, non_host
from nsscope.host.containers.state_paths import Context
from nsscope.host.model import NS_TYPES, Container

LAUNCHERS = ("unshare", "bwrap", "firejail", "nsjail", "minijail0", "flatpak")


def find_sandboxes(ctx: Context, claimed: set[int]) -> list[Container]:
    """Isolated processes of no known runtime, grouped.

    Processes with the same namespace set are one sandbox; so is a child that
    is at least as isolated as its isolated parent (``unshare --fork --pid``:
    unshare itself is in the new mount/net/…, its child also in the new pid
    namespace).
    """
    snap, proc, procs = ctx.snap, ctx.proc, ctx.snap.processes
    members = {pid: p for pid, p in procs.items() if pid not in claimed and isolated(snap, p)}
    parent: dict[int, int] = {pid: pid for pid in members}

    def root(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    def union(a: int, b: int) -> None:
        ra, rb = root(a), root(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)

    by_set: dict[tuple[tuple[str, int], ...], int] = {}
    for pid, p in members.items():
        nh = non_host(snap, p)
        key = tuple(sorted(nh.items()))
        if key in by_set:
            union(by_set[key], pid)
        else:
            by_set[key] = pid
        pp = members.get(p.ppid)
        if pp is not None:
            pnh = non_host(snap, pp)
            if all(nh.get(t) == ino for t, ino in pnh.items()):
                union(p.ppid, pid)
    groups: dict[int, list[int]] = {}
    for pid in members:
        groups.setdefault(root(pid), []).append(pid)

    out = []
    for pids in groups.values():
        # the main process: the most isolated, then the oldest
        main = min((procs[p] for p in pids),
                   key=lambda p: (-len(non_host(snap, p)), p.starttime, p.pid))
        top = min((procs[p] for p in pids if procs[p].ppid not in pids),
                  key=lambda p: (p.starttime, p.pid))
        launcher = "sandbox"
        name = None
        for cand in (top, procs.get(top.ppid)):
            if cand is not None and cand.cmdline:
                prog = basename(cand.cmdline[0])
                if prog in LAUNCHERS:
                    launcher = prog
                    if prog == "firejail":
                        name = option(cand.cmdline, "--name")
                    break
        nh = non_host(snap, main)
        ino = next(nh[t] for t in ("pid", "mnt", "net", "user", "uts", "ipc", "cgroup", "time")
                   if t in nh)
        root_link = readlink(f"{proc}/{main.pid}/root")
        out.append(Container(
            id=str(ino), short_id=str(ino), name=name or f"{launcher}-{main.pid}",
            runtime=launcher, pid=main.pid, pids=tuple(sorted(pids)),
            state="paused" if is_frozen(snap, main, ctx.frozen) else "running",
            cgroup=main.cgroup_for("cpu"), cpu_limit=cpu_limit(snap, main, ctx.limits),
            shares_host=tuple(t for t in NS_TYPES if t in main.ns
                              and snap.host_ns.get(t) == main.ns[t]),
            rootfs=root_link if root_link and root_link != "/" else None, sandbox=True))
    return out



"""What a selection in a tree means for the other panes: the cgroup and process it
stands for (``subject_of``), its member processes (``members_of``), and what the
plot calls it (``title_of``).
"""

from __future__ import annotations

from nsscope.host import labels
from nsscope.printable import safe
from nsscope.tui.frame import Frame
from nsscope.tui.outlines.base import KTHREADS, Ref

# --- what a selection means for the other panes ---------------------------------

def subject_of(frame: Frame, ref: Ref) -> tuple[str | None, int | None]:
    """(cgroup path to plot, pid whose namespaces to show) for a selection."""
    kind, ident = ref
    if kind == "process":
        return frame.cpu_cgroup(ident), ident
    if kind == "container":
        c = frame.container(ident)
        if c is None:
            return None, None
        pid = c.pid if c.pid is not None else next(iter(frame.members(c)), None)
        return (c.cgroup if not c.sandbox else frame.cpu_cgroup(pid) if pid else None), pid
    if kind == "cgroup":
        cg = frame.snapshot.cgroups.get(ident)
        return ident, (cg.procs[0] if cg is not None and cg.procs else None)
    if kind == "namespace":
        ns = frame.snapshot.namespaces.get(ident)
        return "/", (ns.pids[0] if ns is not None and ns.pids else None)
    return "/", None


def members_of(frame: Frame, ref: Ref) -> tuple[int, ...]:
    kind, ident = ref
    if kind == "container":
        c = frame.container(ident)
        return frame.members(c) if c is not None else ()
    if kind == "cgroup":
        cg = frame.snapshot.cgroups.get(ident)
        return cg.procs if cg is not None else ()
    if kind == "namespace":
        ns = frame.snapshot.namespaces.get(ident)
        return ns.pids if ns is not None else ()
    if kind == KTHREADS:
        return ident
    if kind == "group" and isinstance(ident, tuple) and ident[0] == "members":
        ns = frame.snapshot.namespaces.get(ident[1])
        return ns.pids if ns is not None else ()
    if kind == "process":
        def children() -> dict[int, list[int]]:
            kids: dict[int, list[int]] = {}
            for pid, p in frame.snapshot.processes.items():
                kids.setdefault(p.ppid, []).append(pid)
            return kids
        kids = frame.cached("children", children)
        return (ident, *kids.get(ident, ()))
    return ()


def title_of(frame: Frame, ref: Ref, path: str | None) -> str:
    """The plot's title: the container by its name where the cgroup is one's
    ('batch (docker 39e06029a411)'), else the cgroup path; escaped (host/labels.py)."""
    if path is None:
        return ""
    c = frame.container(ref.ident) if ref.kind == "container" else None
    if c is None:
        c = frame.container_of_cgroup(path, own=True)
    if c is not None:
        return safe(labels.title(c))
    return "host (/)" if path == "/" else safe(path)

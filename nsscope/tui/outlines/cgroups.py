"""The Cgroups view: the cgroup tree with CPU % and throttled %; a container's cgroup
carries the container's name."""

from __future__ import annotations

from rich.text import Text

from nsscope.host import labels
from nsscope.printable import safe
from nsscope.tui.frame import Frame
from nsscope.tui.outlines.base import (KTHREADS, NO_REF, PROC_LIMIT, Entry, Outline, Ref,
                                       kthread_children, process_entries, process_keys)
from nsscope.tui.outlines.labels import count, figures, shorten
from nsscope.tui.outlines.throttling import shares, sort_key

# --- Cgroups: the cgroup tree with CPU % and throttled % ------------------------------

class CgroupsOutline(Outline):
    name = "cgroups"
    title = "Cgroups"

    def _entry(self, frame: Frame, path: str) -> Entry:
        cg = frame.snapshot.cgroups[path]
        c = frame.container_of_cgroup(path, own=True)
        t = Text()
        if path == "/":
            t.append("/ (host)", style="bold")
        elif c is not None:
            # the container's name first, its cgroup's own name last (cut first when
            # the pane is narrow)
            t.append(shorten(safe(labels.name(c))), style="bold")
        else:
            t.append(shorten(safe(cg.name)))
        r = frame.rates.get(path)
        limit = cg.cpu.limit_cpus if cg.cpu is not None else None
        share = shares(frame).get(path)
        t.append_text(figures(r, None if limit is None else 100 * limit,
                              share.pct if share is not None and share.by else None))
        if cg.procs:
            t.append(f"  {count(len(cg.procs), 'proc')}", style="dim")
        if c is not None:
            t.append(f"  {safe(c.runtime)} {shorten(safe(cg.name), 24)}", style="dim")
        kids = frame.cgroup_children().get(path)
        search = path if c is None else f"{path} {labels.name(c)} {c.id}"
        return Entry(f"cg:{path}", t, Ref("cgroup", path), expandable=bool(kids or cg.procs),
                     search=search.lower())

    def roots(self, frame: Frame, sort: bool) -> list[Entry]:
        if "/" not in frame.snapshot.cgroups:
            return [Entry("none", Text("no cgroup hierarchy mounted", style="dim"), NO_REF)]
        return [self._entry(frame, "/")]

    def children(self, frame: Frame, entry: Entry, sort: bool,
                 limit: int | None = PROC_LIMIT, pin: int | None = None) -> list[Entry]:
        if entry.ref.kind == KTHREADS:
            return kthread_children(frame, entry, limit, pin)
        if entry.ref.kind != "cgroup":
            return []
        path = entry.ref.ident
        kids = list(frame.cgroup_children().get(path, ()))
        if sort:
            kids.sort(key=lambda k: (sort_key(frame, k), k))
        else:
            kids.sort()
        out = [self._entry(frame, k) for k in kids]
        cg = frame.snapshot.cgroups.get(path)
        if cg is not None and cg.procs:
            out += process_entries(frame, entry.key, cg.procs, limit, pin)
        return out

    def path_to(self, frame: Frame, pid: int) -> list[str] | None:
        path = frame.cpu_cgroup(pid)
        if path is None or path not in frame.snapshot.cgroups:
            return None
        keys = ["cg:/"]
        if path != "/":
            parts = path.strip("/").split("/")
            keys += ["cg:/" + "/".join(parts[:i]) for i in range(1, len(parts) + 1)]
        return keys + process_keys(frame, keys[-1], pid)

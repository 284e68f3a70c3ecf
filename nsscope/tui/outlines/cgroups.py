"""The Cgroups view: the cgroup tree with CPU % and throttled %."""

from __future__ import annotations

from rich.text import Text

from nsscope.printable import safe
from nsscope.tui.frame import Frame
from nsscope.tui.outlines.base import NO_REF, PROC_LIMIT, Entry, Outline, Ref, process_entries
from nsscope.tui.outlines.labels import figures, shorten, throttle_weight

# --- Cgroups: the cgroup tree with CPU % and throttled % ------------------------------

class CgroupsOutline(Outline):
    name = "cgroups"
    title = "Cgroups"

    def _entry(self, frame: Frame, path: str) -> Entry:
        cg = frame.snapshot.cgroups[path]
        t = Text()
        t.append(shorten(safe(cg.name)) if path != "/" else "/ (host)",
                 style="bold" if path == "/" else "")
        r = frame.rates.get(path)
        limit = cg.cpu.limit_cpus if cg.cpu is not None else None
        t.append_text(figures(r, None if limit is None else 100 * limit))
        if cg.procs:
            t.append(f"  {len(cg.procs)}p", style="dim")
        kids = frame.cgroup_children().get(path)
        return Entry(f"cg:{path}", t, Ref("cgroup", path), expandable=bool(kids or cg.procs),
                     search=path.lower())

    def roots(self, frame: Frame, sort: bool) -> list[Entry]:
        if "/" not in frame.snapshot.cgroups:
            return [Entry("none", Text("no cgroup hierarchy mounted", style="dim"), NO_REF)]
        return [self._entry(frame, "/")]

    def children(self, frame: Frame, entry: Entry, sort: bool,
                 limit: int | None = PROC_LIMIT, pin: int | None = None) -> list[Entry]:
        if entry.ref.kind != "cgroup":
            return []
        path = entry.ref.ident
        kids = list(frame.cgroup_children().get(path, ()))
        if sort:
            kids.sort(key=lambda k: (throttle_weight(frame.rates.get(k)), k))
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
        return keys + [f"{keys[-1]}|pid:{pid}"]



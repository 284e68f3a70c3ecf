"""The Containers view: runtime -> container -> processes."""

from __future__ import annotations

from rich.text import Text

from nsscope.host.model import Container
from nsscope.printable import safe
from nsscope.tui.frame import Frame
from nsscope.tui.outlines.base import NO_REF, PROC_LIMIT, Entry, Outline, Ref, process_entries
from nsscope.tui.outlines.labels import figures, pct, shorten, throttle_weight

# --- Containers: runtime -> container -> processes ---------------------------------

class ContainersOutline(Outline):
    name = "containers"
    title = "Containers"

    def roots(self, frame: Frame, sort: bool) -> list[Entry]:
        runtimes: dict[str, list[Container]] = {}
        for c in frame.containers:
            runtimes.setdefault(c.runtime, []).append(c)
        if not runtimes:
            return [Entry("none", Text("no containers or sandboxes found", style="dim"),
                          NO_REF)]
        out = []
        for rt in sorted(runtimes, key=lambda r: (r == "sandboxes", r)):
            n = len(runtimes[rt])
            t = Text()
            t.append(safe(rt), style="bold")
            t.append(f"  {n} {'sandbox' if rt == 'sandboxes' else 'container'}"
                     f"{'' if n == 1 else 'es' if rt == 'sandboxes' else 's'}", style="dim")
            out.append(Entry(f"rt:{rt}", t, Ref("runtime", rt), expandable=True,
                             search=rt.lower()))
        return out

    def _container_entry(self, frame: Frame, parent_key: str, c: Container) -> Entry:
        t = Text()
        t.append(shorten(safe(c.name)))
        if c.short_id and c.short_id != c.name and not c.sandbox:
            t.append(f" {c.short_id}", style="dim")
        if c.state and c.state != "running":
            t.append(f" {c.state}", style="dim italic")
        if c.cgroup is not None and not c.sandbox:
            r = frame.rates.get(c.cgroup)
            cg = frame.snapshot.cgroups.get(c.cgroup)
            limit = cg.cpu.limit_cpus if cg is not None and cg.cpu is not None else None
            t.append_text(figures(r, None if limit is None else 100 * limit))
            if limit is None and c.cpu_limit is not None:
                # bound by an ancestor's quota (a pod's): its own cpu.stat shows no throttling
                t.append(f"  pod/slice limit {pct(100 * c.cpu_limit)}", style="cyan")
        return Entry(f"{parent_key}|ctr:{c.key}", t, Ref("container", c.key),
                     expandable=bool(frame.members(c)),
                     search=f"{c.name} {c.id} {c.runtime} {c.pod or ''}".lower())

    def children(self, frame: Frame, entry: Entry, sort: bool,
                 limit: int | None = PROC_LIMIT, pin: int | None = None) -> list[Entry]:
        kind, ident = entry.ref
        if kind == "runtime":
            cs = [c for c in frame.containers if c.runtime == ident]
            if sort:
                cs.sort(key=lambda c: (throttle_weight(frame.rates.get(c.cgroup or "")),
                                       c.name))
            else:
                cs.sort(key=lambda c: c.name)
            return [self._container_entry(frame, entry.key, c) for c in cs]
        if kind == "container":
            c = frame.container(ident)
            if c is None:
                return []
            return process_entries(frame, entry.key, frame.members(c), limit, pin)
        return []

    def path_to(self, frame: Frame, pid: int) -> list[str] | None:
        c = frame.container_of(pid)
        if c is None:
            return None
        rt = f"rt:{c.runtime}"
        ctr = f"{rt}|ctr:{c.key}"
        return [rt, ctr, f"{ctr}|pid:{pid}"]



"""The Containers view: runtime -> container -> processes."""

from __future__ import annotations

from rich.text import Text

from nsscope.host import labels
from nsscope.host.model import Container
from nsscope.printable import safe
from nsscope.tui.frame import Frame
from nsscope.tui.outlines.base import (KTHREADS, NO_REF, PROC_LIMIT, Entry, Outline, Ref,
                                       kthread_children, process_entries, process_keys)
from nsscope.tui.outlines.labels import count, figures, pct, shorten
from nsscope.tui.outlines.throttling import shares, sort_key

# --- Containers: runtime -> container -> processes ---------------------------------


def runtime_label(runtime: str, n: int, of: int | None = None) -> Text:
    """'docker  3 containers'; while filtering, 'docker  1 of 3 containers'."""
    t = Text()
    t.append(safe(runtime), style="bold")
    noun = ("sandbox", "sandboxes") if runtime == "sandboxes" else ("container", "containers")
    if of is None:
        t.append(f"  {count(n, *noun)}", style="dim")
    else:
        t.append(f"  {n} of {count(of, *noun)}", style="dim")
    return t


class ContainersOutline(Outline):
    name = "containers"
    title = "Containers"

    def _runtimes(self, frame: Frame) -> dict[str, list[Container]]:
        def make() -> dict[str, list[Container]]:
            out: dict[str, list[Container]] = {}
            for c in frame.containers:
                out.setdefault(c.runtime, []).append(c)
            return out
        return frame.cached("containers_by_runtime", make)

    def _sort_key(self, frame: Frame, c: Container) -> tuple[float, float]:
        return sort_key(frame, c.cgroup if not c.sandbox else None)

    def roots(self, frame: Frame, sort: bool) -> list[Entry]:
        runtimes = self._runtimes(frame)
        if not runtimes:
            return [Entry("none", Text("no containers or sandboxes found", style="dim"),
                          NO_REF)]
        names = sorted(runtimes, key=lambda r: (r == "sandboxes", r))
        if sort:
            names.sort(key=lambda r: min(self._sort_key(frame, c) for c in runtimes[r]))
        return [Entry(f"rt:{rt}", runtime_label(rt, len(runtimes[rt])), Ref("runtime", rt),
                      expandable=True, search=rt.lower())
                for rt in names]

    def filtered_label(self, frame: Frame, entry: Entry, shown: int) -> Text | None:
        if entry.ref.kind != "runtime":
            return None
        return runtime_label(entry.ref.ident, shown,
                             len(self._runtimes(frame).get(entry.ref.ident, ())))

    def _container_entry(self, frame: Frame, parent_key: str, c: Container) -> Entry:
        t = Text()
        t.append(shorten(safe(labels.name(c)), 40))
        if c.state and c.state != "running":
            t.append(f" {safe(c.state)}", style="dim italic")
        if c.cgroup is not None and not c.sandbox:
            r = frame.rates.get(c.cgroup)
            cg = frame.snapshot.cgroups.get(c.cgroup)
            limit = cg.cpu.limit_cpus if cg is not None and cg.cpu is not None else None
            share = shares(frame).get(c.cgroup)
            t.append_text(figures(r, None if limit is None else 100 * limit,
                                  share.pct if share is not None and share.by else None))
            if limit is None and c.cpu_limit is not None:
                # bound by an ancestor's quota (a pod's): its own cpu.stat shows no throttling
                t.append(f"  pod/slice limit {pct(100 * c.cpu_limit)}", style="cyan")
        if c.short_id and c.short_id != c.name and not c.sandbox:
            # last: what a narrow pane cuts first
            t.append(f"  {safe(c.short_id)}", style="dim")
        return Entry(f"{parent_key}|ctr:{c.key}", t, Ref("container", c.key),
                     expandable=bool(frame.members(c)),
                     search=f"{labels.name(c)} {c.id} {c.runtime}".lower())

    def children(self, frame: Frame, entry: Entry, sort: bool,
                 limit: int | None = PROC_LIMIT, pin: int | None = None) -> list[Entry]:
        kind, ident = entry.ref
        if kind == KTHREADS:
            return kthread_children(frame, entry, limit, pin)
        if kind == "runtime":
            cs = list(self._runtimes(frame).get(ident, ()))
            if sort:
                cs.sort(key=lambda c: (self._sort_key(frame, c), labels.name(c)))
            else:
                cs.sort(key=labels.name)
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
        return [rt, ctr, *process_keys(frame, ctr, pid)]

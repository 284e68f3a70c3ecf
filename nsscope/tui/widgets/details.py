"""The right pane's text part: what the selection is, its namespaces, its processes.

The summary is a ``Static`` given a new ``Text`` only when it changed; the
namespace and member tables keep their rows (keyed by namespace type and by
pid) and change single cells with ``DataTable.update_cell``.
"""

from __future__ import annotations

from collections.abc import Iterable

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import DataTable, Static

from nsscope.host.history import CpuRates
from nsscope.host.model import NS_TYPES, Cgroup, Namespace
from nsscope.tui.frame import Frame
from nsscope.tui.outlines import Ref
from nsscope.tui.outlines.labels import pct
from nsscope.tui.selection import members_of, subject_of
from nsscope.host.users import user_name
from nsscope.printable import safe

#: rows of the member table
MEMBER_LIMIT = 100


def mib(n: int | None) -> str:
    if n is None:
        return "unlimited"
    if n >= 1 << 30:
        return f"{n / (1 << 30):.1f} GiB"
    return f"{n / (1 << 20):.1f} MiB"


def limits(frame: Frame, cg: Cgroup | None) -> Text:
    t = Text()
    t.append("limits  ", style="bold")
    if cg is None:
        t.append("no cgroup figures", style="dim")
        return t
    cpu = cg.cpu
    if cpu is not None and cpu.quota_usec is not None and cpu.period_usec:
        t.append(f"cpu {pct(100 * cpu.quota_usec / cpu.period_usec)}", style="cyan")
        if frame.snapshot.cgroup_mode == "unified":
            t.append(f" (cpu.max {cpu.quota_usec} {cpu.period_usec})", style="dim")
        else:
            t.append(f" (cfs_quota_us {cpu.quota_usec}, cfs_period_us {cpu.period_usec})",
                     style="dim")
    else:
        t.append("cpu unlimited")
    if cpu is not None and cpu.weight is not None:
        t.append(f"  weight {cpu.weight}", style="dim")
    if cpu is not None and cpu.shares is not None:
        t.append(f"  shares {cpu.shares}", style="dim")
    if cg.memory is not None:
        t.append(f"  memory {mib(cg.memory.current) if cg.memory.current is not None else '?'}"
                 f" / {mib(cg.memory.max)}")
    if cg.pids is not None:
        mx = "max" if cg.pids.max is None else str(cg.pids.max)
        t.append(f"  pids {cg.pids.current if cg.pids.current is not None else '?'} / {mx}")
    return t


def now_line(r: CpuRates | None) -> Text:
    t = Text()
    t.append("now     ", style="bold")
    if r is None:
        t.append("waiting for a second sample", style="dim")
        return t
    t.append(f"cpu {pct(r.usage_pct)}")
    if r.usage_of_limit_pct is not None:
        t.append(f" ({pct(r.usage_of_limit_pct)} of limit)", style="dim")
    if r.throttled_pct is not None:
        t.append("  throttled ")
        t.append(f"{pct(r.throttled_pct)} of periods",
                 style="bold red" if r.throttled_pct >= 50 else "")
    if r.throttled_ms is not None:
        t.append(f"  {r.throttled_ms:.0f} ms/s")
    if r.pressure_some_pct is not None:
        t.append(f"  psi some {pct(r.pressure_some_pct)}")
    return t


def _cgroup_line(path: str | None) -> Text:
    t = Text()
    t.append("cgroup  ", style="bold")
    t.append(safe(path) if path is not None else "?")
    return t


def describe(frame: Frame, ref: Ref, rates: CpuRates | None) -> Text:
    """The summary lines for a selection."""
    kind, ident = ref
    snap = frame.snapshot
    t = Text()
    if kind == "process":
        p = frame.process(ident)
        t.append(f"process {ident} ", style="bold")
        if p is None:
            t.append("(gone)", style="dim")
            return t
        t.append(safe(p.comm), style="bold")
        t.append(f"\nuser {user_name(p.uid)}  state {p.state}  ppid {p.ppid}"
                 + ("  kernel thread" if p.kernel_thread else ""), style="")
        t.append("\ncmd     ", style="bold")
        t.append(safe(p.command))
        path = p.cgroup_for("cpu")
        t.append("\n")
        t.append_text(_cgroup_line(path))
        t.append("\n")
        t.append_text(limits(frame, snap.cgroups.get(path) if path else None))
    elif kind == "container":
        c = frame.container(ident)
        if c is None:
            return Text("container gone", style="dim")
        t.append(f"{safe(c.runtime)} ", style="bold")
        t.append("sandbox " if c.sandbox else "container ", style="bold")
        t.append(safe(c.name), style="bold")
        if c.id and c.id != c.name and not c.sandbox:
            t.append(f"  {c.id}", style="dim")
        n = len(frame.members(c))
        t.append(f"\nmain pid {c.pid if c.pid is not None else '?'}  {n} process"
                 f"{'' if n == 1 else 'es'}  {c.state}")
        if c.pod:
            t.append(f"  pod {safe(c.pod)}")
        path, _ = subject_of(frame, ref)
        t.append("\n")
        t.append_text(_cgroup_line(path))
        t.append("\n")
        t.append_text(limits(frame, snap.cgroups.get(path) if path else None))
    elif kind == "cgroup":
        cg = snap.cgroups.get(ident)
        t.append_text(_cgroup_line(ident))
        if cg is None:
            t.append("  (gone)", style="dim")
            return t
        n = len(cg.procs)
        t.append(f"\n{n} process{'' if n == 1 else 'es'}  hierarchies "
                 + ", ".join(k or "unified" for k in cg.hierarchies), style="dim")
        t.append("\n")
        t.append_text(limits(frame, cg))
    elif kind == "namespace":
        ns = snap.namespaces.get(ident)
        if ns is None:
            return Text(f"namespace {ident} gone", style="dim")
        t.append_text(_ns_summary(frame, ns))
        return t
    elif kind == "runtime":
        n = sum(1 for c in frame.containers if c.runtime == ident)
        t.append(f"{ident}", style="bold")
        t.append(f"  {n} {'sandboxes' if ident == 'sandboxes' else 'containers'}")
        if ident == "sandboxes":
            t.append("\nprocesses in namespaces of their own that no runtime made "
                     "(unshare, bwrap, browsers), grouped by namespace set", style="dim")
        return t
    elif kind == "group" and isinstance(ident, tuple):
        t.append(f"members of user namespace {ident[1]}", style="bold")
        return t
    else:
        return Text("select something in the tree (arrows, enter expands)", style="dim")
    t.append("\n")
    t.append_text(now_line(rates))
    return t


def _ns_summary(frame: Frame, ns: Namespace) -> Text:
    snap = frame.snapshot
    t = Text()
    t.append(f"{ns.type} namespace {ns.ino}", style="bold")
    if snap.is_host(ns):
        t.append("  the host's", style="green")
    if ns.owner is not None:
        t.append(f"\nowned by user namespace {ns.owner}")
    if ns.type == "user" and ns.owner_uid is not None:
        t.append(f"\ncreated by uid {ns.owner_uid} ({user_name(ns.owner_uid)})")
    if ns.parent is not None:
        t.append(f"\nparent {ns.type} namespace {ns.parent}")
    t.append(f"\n{ns.nprocs} process{'' if ns.nprocs == 1 else 'es'}")
    for where in ns.nsfs:
        t.append("\nbind mount ")
        t.append(safe(where))
    for holder in ns.holders[:4]:
        t.append("\nheld by ")
        t.append(safe(holder))
    return t


class Details(Vertical):
    """Summary, namespace table and member table of the selection."""

    def compose(self) -> ComposeResult:
        yield Static(id="summary", markup=False)
        with Horizontal(id="tables"):
            yield DataTable(id="ns-table", cursor_type="none", zebra_stripes=False)
            yield DataTable(id="members", cursor_type="row")

    def on_mount(self) -> None:
        ns = self.query_one("#ns-table", DataTable)
        ns.add_column("ns", key="type")
        ns.add_column("inode", key="ino")
        ns.add_column("", key="host")
        members = self.query_one("#members", DataTable)
        members.add_column("pid", key="pid")
        members.add_column("user", key="user")
        members.add_column("s", key="state")
        members.add_column("command", key="command")
        self._summary: Text | None = None
        self._ns_rows: dict[str, tuple] = {}
        self._member_rows: dict[str, tuple] = {}

    def show(self, frame: Frame, ref: Ref, rates: CpuRates | None) -> None:
        summary = describe(frame, ref, rates)
        if summary != self._summary:
            self._summary = summary
            # fixed height (nsscope.tcss): no layout pass for a new text each second
            self.query_one("#summary", Static).update(summary, layout=False)
        _, pid = subject_of(frame, ref)
        self._show_namespaces(frame, pid)
        self._show_members(frame, members_of(frame, ref))

    def _show_namespaces(self, frame: Frame, pid: int | None) -> None:
        table = self.query_one("#ns-table", DataTable)
        p = frame.process(pid)
        rows: dict[str, tuple] = {}
        if p is not None:
            host = frame.snapshot.host_ns
            for typ in NS_TYPES:
                ino = p.ns.get(typ)
                if ino is None:
                    continue
                shared = ino == host.get(typ)
                rows[typ] = (Text(typ), Text(str(ino)),
                             Text("host", style="green") if shared else Text("own", style="bold"))
        self._sync_rows(table, self._ns_rows, rows, ("type", "ino", "host"))

    def _show_members(self, frame: Frame, pids: Iterable[int]) -> None:
        table = self.query_one("#members", DataTable)
        rows: dict[str, tuple] = {}
        for pid in list(pids)[:MEMBER_LIMIT]:
            p = frame.process(pid)
            if p is None:
                continue
            rows[str(pid)] = (Text(str(pid)), Text(safe(user_name(p.uid))),
                              Text(p.state), Text(safe(p.command)))
        self._sync_rows(table, self._member_rows, rows, ("pid", "user", "state", "command"))

    @staticmethod
    def _sync_rows(table: DataTable, current: dict[str, tuple], rows: dict[str, tuple],
                   columns: tuple[str, ...]) -> None:
        """Rows in place: remove gone keys, update changed cells, add new keys."""
        if list(current) != [k for k in rows if k in current]:
            table.clear()
            current.clear()
        for key in list(current):
            if key not in rows:
                table.remove_row(key)
                del current[key]
        for key, values in rows.items():
            old = current.get(key)
            if old is None:
                table.add_row(*values, key=key)
            elif old != values:
                for col, a, b in zip(columns, old, values, strict=True):
                    if a != b:
                        table.update_cell(key, col, b)
            current[key] = values

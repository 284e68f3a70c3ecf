"""The right pane's text part: what the selection is, its namespaces, its processes.

The summary is a ``Static`` given a new ``Text`` only when it changed, laid out
to the pane's width item by item (``flow``: a line breaks between items, never
inside a value). The namespace table and the process list are two boxes, each
with its own title and height: the list runs the full height of the pane, not
the eight rows of the namespaces (zipped side by side in two untitled tables,
their rows read as if pid 3 belonged to the ipc namespace). Both keep their rows
(keyed by namespace type and by pid) and change single cells with
``DataTable.update_cell``.
"""

from __future__ import annotations

from collections.abc import Iterable

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import DataTable, Static

from nsscope.host import labels
from nsscope.host.history import CpuRates
from nsscope.host.model import NS_TYPES, Cgroup, Namespace, Process
from nsscope.tui.frame import Frame
from nsscope.tui.outlines import Ref
from nsscope.tui.outlines.base import KTHREADS
from nsscope.tui.outlines.labels import count, pct, shorten
from nsscope.tui.selection import members_of, subject_of
from nsscope.host.users import user_name
from nsscope.printable import safe

TYPE_CHECKING = False
if TYPE_CHECKING:
    from nsscope.host.usage import Usage

#: rows of the member table
MEMBER_LIMIT = 100
#: processes of the list whose CPU %, memory and I/O are read each second (psutil: ~0.1 ms
#: each, so at most ~0.5 % of a core)
USAGE_LIMIT = 50


def _bytes(n: float) -> str:
    for unit in ("B", "K", "M", "G"):
        if n < 1024 or unit == "G":
            return f"{n:.0f}{unit}" if unit == "B" or n >= 10 else f"{n:.1f}{unit}"
        n /= 1024
    return ""  # not reached


def usage_cells(u: Usage | None) -> tuple[Text, Text, Text]:
    """cpu%, mem and io r/w cells of one process; blank where not known (a first reading,
    another user's I/O counters without root, a scenario or a recording)."""
    if u is None:
        return Text(""), Text(""), Text("")
    cpu = Text("" if u.cpu_pct is None else f"{u.cpu_pct:.0f}", justify="right")
    mem = Text("" if u.rss is None else _bytes(u.rss), justify="right")
    io = "" if u.read_bps is None or u.write_bps is None else \
        f"{_bytes(u.read_bps)}/{_bytes(u.write_bps)}"
    return cpu, mem, Text(io, justify="right")


def mib(n: int | None) -> str:
    if n is None:
        return "unlimited"
    if n >= 1 << 30:
        return f"{n / (1 << 30):.1f} GiB"
    return f"{n / (1 << 20):.1f} MiB"


#: a summary line: its heading, then its items (a line breaks between items only)
Line = tuple[str, list[Text]]
#: the headings' width ("limits  ", "now     ")
INDENT = 8


def _item(*parts: tuple[str, str] | str) -> Text:
    t = Text()
    for part in parts:
        if isinstance(part, str):
            t.append(part)
        else:
            t.append(*part)
    return t


def limits(frame: Frame, cg: Cgroup | None) -> Line:
    items: list[Text] = []
    if cg is None:
        return "limits", [Text("no cgroup figures", style="dim")]
    cpu = cg.cpu
    if cpu is not None and cpu.quota_usec is not None and cpu.period_usec:
        quota = pct(100 * cpu.quota_usec / cpu.period_usec)
        if frame.snapshot.cgroup_mode == "unified":
            raw = f"(cpu.max {cpu.quota_usec} {cpu.period_usec})"
        else:
            raw = f"(cfs_quota_us {cpu.quota_usec}, cfs_period_us {cpu.period_usec})"
        items.append(_item((f"cpu {quota}", "cyan"), (f" {raw}", "dim")))
    else:
        items.append(Text("cpu unlimited"))
    if cpu is not None and cpu.weight is not None:
        items.append(Text(f"weight {cpu.weight}", style="dim"))
    if cpu is not None and cpu.shares is not None:
        items.append(Text(f"shares {cpu.shares}", style="dim"))
    if cg.memory is not None:
        cur = mib(cg.memory.current) if cg.memory.current is not None else "?"
        items.append(Text(f"memory {cur} / {mib(cg.memory.max)}"))
    if cg.pids is not None:
        mx = "max" if cg.pids.max is None else str(cg.pids.max)
        items.append(Text(f"pids {cg.pids.current if cg.pids.current is not None else '?'} / {mx}"))
    return "limits", items


def now_line(r: CpuRates | None) -> Line:
    if r is None:
        return "now", [Text("waiting for a second sample", style="dim")]
    items = [_item(f"cpu {pct(r.usage_pct)}",
                   (f" ({pct(r.usage_of_limit_pct)} of limit)", "dim")
                   if r.usage_of_limit_pct is not None else "")]
    if r.throttled_pct is not None:
        items.append(_item("throttled ", (f"{pct(r.throttled_pct)} of periods",
                                          "bold red" if r.throttled_pct >= 50 else "")))
    if r.throttled_ms is not None and (r.limit_pct is not None or r.throttled_ms > 0):
        items.append(Text(f"{r.throttled_ms:.0f} ms/s"))
    if r.pressure_some_pct is not None:
        items.append(Text(f"psi some {pct(r.pressure_some_pct)}"))
    return "now", items


def _cgroup_line(path: str | None) -> Line:
    return "cgroup", [Text(safe(path) if path is not None else "?")]


def _title(*parts: tuple[str, str] | str) -> Line:
    return "", [_item(*parts)]


def describe(frame: Frame, ref: Ref, rates: CpuRates | None) -> list[Line]:
    """The summary of a selection, as lines of items."""
    kind, ident = ref
    snap = frame.snapshot
    out: list[Line] = []
    if kind == "process":
        p = frame.process(ident)
        if p is None:
            return [_title((f"process {ident} ", "bold"), ("(gone)", "dim"))]
        out.append(_title((f"process {ident} ", "bold"), (safe(p.comm), "bold")))
        c = frame.container_of(ident)
        out.append(("", [Text(f"user {safe(user_name(p.uid))}"), Text(f"state {p.state}"),
                         Text(f"ppid {p.ppid}")]
                    + ([Text("kernel thread", style="dim")] if p.kernel_thread else [])
                    + ([_item("in ", (safe(labels.title(c)), "magenta"))] if c else [])))
        out.append(("cmd", [Text(safe(p.command))]))
        path = p.cgroup_for("cpu")
        out.append(_cgroup_line(path))
        out.append(now_line(rates))
        out.append(limits(frame, snap.cgroups.get(path) if path else None))
    elif kind == "container":
        c = frame.container(ident)
        if c is None:
            return [_title(("container gone", "dim"))]
        what = "sandbox " if c.sandbox else "container "
        head = _item((f"{safe(c.runtime)} {what}", "bold"), (safe(labels.name(c)), "bold"))
        out.append(("", [head]))
        out.append(("", [Text(f"main pid {c.pid if c.pid is not None else '?'}"),
                         Text(count(len(frame.members(c)), "process", "processes")),
                         Text(safe(c.state))]))
        path, _ = subject_of(frame, ref)
        out.append(_cgroup_line(path))
        out.append(now_line(rates))
        out.append(limits(frame, snap.cgroups.get(path) if path else None))
        # last, what a short pane cuts first: the whole id and the image
        if c.id and c.id != c.name and not c.sandbox:
            out.append(("id", [Text(safe(c.id), style="dim")]))
        if c.image:
            out.append(("image", [Text(safe(c.image), style="dim")]))
        return out
    elif kind == "cgroup":
        cg = snap.cgroups.get(ident)
        out.append(_cgroup_line(ident))
        if cg is None:
            out.append(("", [Text("(gone)", style="dim")]))
            return out
        c = frame.container_of_cgroup(ident)
        items = [Text(count(len(cg.procs), "process", "processes")),
                 Text("hierarchies " + ", ".join(k or "unified" for k in cg.hierarchies),
                      style="dim")]
        if c is not None:
            items.insert(0, _item("container ", (safe(labels.title(c)), "magenta")))
        out.append(("", items))
        out.append(now_line(rates))
        out.append(limits(frame, cg))
    elif kind == "namespace":
        ns = snap.namespaces.get(ident)
        if ns is None:
            return [_title((f"namespace {ident} gone", "dim"))]
        return _ns_summary(frame, ns)
    elif kind == "runtime":
        n = sum(1 for c in frame.containers if c.runtime == ident)
        noun = ("sandbox", "sandboxes") if ident == "sandboxes" else ("container", "containers")
        out.append(_title((safe(ident), "bold"), f"  {count(n, *noun)}"))
        if ident == "sandboxes":
            out.append(("", [Text("processes in namespaces of their own that no runtime made "
                                  "(unshare, bwrap, browsers), grouped by namespace set",
                                  style="dim")]))
        return out
    elif kind == KTHREADS:
        out.append(_title((count(len(ident), "kernel thread"), "bold")))
        out.append(("", [Text("kthreadd's children: in the host's namespaces and the root "
                              "cgroup, run by the kernel (K unfolds them in the tree)",
                              style="dim")]))
        return out
    elif kind == "group" and ident == "unowned":
        return [_title(("owner unknown", "bold")),
                ("", [Text("namespaces whose owning user namespace cannot be told "
                           "(NS_GET_USERNS needs the live namespace: a captured tree)",
                           style="dim")])]
    elif kind == "group" and isinstance(ident, tuple):
        return [_title((f"members of user namespace {ident[1]}", "bold"))]
    else:
        return [_title(("select something in the tree (arrows, enter expands)", "dim"))]
    return out


def _ns_summary(frame: Frame, ns: Namespace) -> list[Line]:
    snap = frame.snapshot
    head = [_item((f"{ns.type} namespace {ns.ino}", "bold"))]
    if snap.is_host(ns):
        head.append(Text("the host's", style="green"))
    out: list[Line] = [("", head)]
    facts: list[Text] = []
    if ns.owner is not None:
        facts.append(Text(f"owned by user namespace {ns.owner}"))
    if ns.type == "user" and ns.owner_uid is not None:
        facts.append(Text(f"created by uid {ns.owner_uid} ({safe(user_name(ns.owner_uid))})"))
    if ns.parent is not None:
        facts.append(Text(f"parent {ns.type} namespace {ns.parent}"))
    facts.append(Text(count(ns.nprocs, "process", "processes")))
    out.append(("", facts))
    cs = frame.containers_in(ns.ino)
    if cs and not snap.is_host(ns):
        out.append(("in it", [Text(safe(labels.title(c)), style="magenta") for c in cs]))
    out.extend(("", [_item("bind mount ", safe(where))]) for where in ns.nsfs)
    out.extend(("", [_item("held by ", safe(holder))]) for holder in ns.holders[:4])
    return out


def flow(lines: list[Line], width: int) -> Text:
    """The lines as one ``Text`` of at most ``width`` columns: a heading, then its
    items two spaces apart; an item that does not fit goes on the next line, under
    the first item; one wider than the line is cut with '…' (never wrapped mid-value)."""
    width = max(width, 20)
    out = Text(no_wrap=True, overflow="ellipsis")
    first = True
    for heading, items in lines:
        if not first:
            out.append("\n")
        first = False
        indent = INDENT if heading else 0
        if heading:
            out.append(f"{heading:<{INDENT}}", style="bold")
        col = indent
        for i, whole in enumerate(items):
            item = whole
            n = item.cell_len
            if i and col + 2 + n > width:
                out.append("\n" + " " * indent)
                col = indent
            elif i:
                out.append("  ")
                col += 2
            if col + n > width:
                if not item.spans:
                    # a path or a command: cut in the middle, its end says most
                    item = Text(shorten(item.plain, width - col), style=item.style)
                else:
                    item = item.copy()
                    item.truncate(width - col, overflow="ellipsis")
                n = item.cell_len
            out.append_text(item)
            col += n
    return out


class Details(Vertical):
    """Summary, then the namespace table and the process list, two boxes of their own."""

    def compose(self) -> ComposeResult:
        yield Static(id="summary", markup=False)
        with Horizontal(id="blocks"):
            with Vertical(id="ns-block", classes="block"):
                yield DataTable(id="ns-table", cursor_type="none", zebra_stripes=False)
            with Vertical(id="members-block", classes="block"):
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
        #: the live host's processes have CPU %, memory and I/O (app.usage_pids); a
        #: scenario or a recording has none to show, and no empty columns for them
        self._usage = getattr(self.app, "usage_reader", None) is not None
        if self._usage:
            members.add_column("cpu%", key="cpu")
            members.add_column("mem", key="mem")
            members.add_column("io r/w", key="io")
        members.add_column("command", key="command")
        self._lines: list[Line] | None = None
        self._summary: Text | None = None
        self._titles: dict[str, Text] = {}
        self._ns_rows: dict[str, tuple] = {}
        self._member_rows: dict[str, tuple] = {}

    def show(self, frame: Frame, ref: Ref, rates: CpuRates | None) -> None:
        self._lines = describe(frame, ref, rates)
        self._show_summary()
        _, pid = subject_of(frame, ref)
        self._show_namespaces(frame, pid)
        self._show_members(frame, members_of(frame, ref))

    def _show_summary(self) -> None:
        if self._lines is None:
            return
        widget = self.query_one("#summary", Static)
        summary = flow(self._lines, widget.content_region.width)
        if summary != self._summary:
            self._summary = summary
            # fixed height (nsscope.tcss): no layout pass for a new text each second
            widget.update(summary, layout=False)

    def on_resize(self) -> None:
        self.call_after_refresh(self._show_summary)

    def _title(self, block: str, title: Text) -> None:
        if self._titles.get(block) != title:
            self._titles[block] = title
            self.query_one(f"#{block}").border_title = title

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
        self._title("ns-block", Text(f"namespaces of pid {pid}" if p is not None
                                     else "namespaces"))

    def _show_members(self, frame: Frame, pids: Iterable[int]) -> None:
        table = self.query_one("#members", DataTable)
        rows: dict[str, tuple] = {}
        # the user's processes first, kernel threads after (folded in the tree: K)
        pids = list(pids)
        total = len(pids)
        users: list[Process] = []
        kthreads: list[Process] = []
        for pid in pids:
            p = frame.process(pid)
            if p is not None:
                (kthreads if p.kernel_thread else users).append(p)
                if len(users) >= MEMBER_LIMIT:
                    break
        else:
            total = len(users) + len(kthreads)  # all read: those still there
        procs = (users + kthreads)[:MEMBER_LIMIT]
        for p in procs:
            pid = p.pid
            usage = usage_cells(frame.usage.get(pid)) if self._usage else ()
            rows[str(pid)] = (Text(str(pid)), Text(safe(user_name(p.uid))), Text(p.state),
                              *usage, Text(safe(p.command)))
        columns = ("pid", "user", "state", *(("cpu", "mem", "io") if self._usage else ()),
                   "command")
        self._sync_rows(table, self._member_rows, rows, columns)
        if self._usage:
            # what the collector reads next (host/usage.py): the user's processes first
            watched = tuple(p.pid for p in procs if not p.kernel_thread)[:USAGE_LIMIT]
            app = self.app
            if app.usage_pids != watched:  # type: ignore[attr-defined]
                app.usage_pids = watched  # type: ignore[attr-defined]
        shown = f"{len(rows)} of {total}" if len(rows) < total else str(len(rows))
        self._title("members-block", Text(f"processes  {shown}"))

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

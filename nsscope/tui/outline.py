"""The three trees of the left pane, as data: Containers, Namespaces, Cgroups.

An ``Outline`` says, for a ``Frame``, which entries are at the top and which
are below an entry; the tree widget asks only for the children of the nodes
that are expanded, so a host with 10,000 processes costs what is on screen.
Every entry has a key that stays the same from one frame to the next (the
widget updates the node with that key in place) and a ``Ref`` naming what it
shows (the details pane and the actions work from the ref).

Labels are ``rich.text.Text`` built with ``append``: process names and cgroup
paths are never parsed as markup.
"""

from __future__ import annotations

from typing import Any, NamedTuple
from collections.abc import Callable, Iterable

from rich.text import Text

from nsscope.views.tree import user_tree
from nsscope.history import CpuRates
from nsscope.model import Namespace
from nsscope.tui.frame import Container, Frame
from nsscope.printable import safe

#: processes listed under one node; the filter finds the others
PROC_LIMIT = 200


class Ref(NamedTuple):
    """What an entry stands for: ("container", key), ("process", pid), ("cgroup", path),
    ("namespace", ino), ("runtime", name), or ("none", None)."""

    kind: str
    ident: Any = None


NO_REF = Ref("none")


class Entry:
    """One node of a tree: a stable key, a label, what it stands for.

    A process entry builds its label only when shown (the filter walks every
    process of the host but draws only those that match).
    """

    __slots__ = ("_label", "_make", "_search", "expandable", "key", "ref", "stamp")

    def __init__(self, key: str, label: Text | None, ref: Ref, expandable: bool = False,
                 search: str | Callable[[], str] = "", make: Callable[[], Text] | None = None,
                 stamp: object = None) -> None:
        self.key = key
        self.ref = ref
        self.expandable = expandable
        self._search = search
        #: what the label is made of, when cheaper to compare than the label (None:
        #: compare labels)
        self.stamp = stamp
        self._label = label
        self._make = make

    @property
    def search(self) -> str:
        """Lower-case text the filter matches (made when first asked for: the tree
        makes an entry for every listed process each second, the filter seldom)."""
        if not isinstance(self._search, str):
            self._search = self._search()
        return self._search

    @property
    def label(self) -> Text:
        if self._label is None:
            assert self._make is not None
            self._label = self._make()
        return self._label

    def __repr__(self) -> str:
        return f"Entry({self.key!r}, {self.ref!r})"


# --- label pieces ----------------------------------------------------------------

def pct(v: float | None) -> str:
    return "-" if v is None else f"{v:.0f}%" if v >= 10 else f"{v:.1f}%"


def _throttle_style(v: float | None) -> str:
    if v is None or v < 1:
        return "dim"
    return "bold red" if v >= 50 else "yellow"


def figures(r: CpuRates | None, limit_pct: float | None = None) -> Text:
    """'  cpu 19.8% / 20%  thr 98%' for a cgroup (limit shown even before a rate exists)."""
    t = Text()
    usage = r.usage_pct if r is not None else None
    limit = r.limit_pct if r is not None else limit_pct
    t.append("  cpu ", style="dim")
    t.append(pct(usage))
    if limit is not None:
        t.append(" / ", style="dim")
        t.append(pct(limit), style="cyan")
    thr = r.throttled_pct if r is not None else None
    if thr is not None:
        t.append("  thr ", style="dim")
        t.append(pct(thr), style=_throttle_style(thr))
    return t


def shorten(name: str, width: int = 30) -> str:
    """A long cgroup or container name cut in the middle: 'docker-4f1c2a9e8b…2d1e.scope'."""
    if len(name) <= width:
        return name
    tail = max(8, width // 3)
    return name[:width - tail - 1] + "…" + name[-tail:]


def throttle_weight(r: CpuRates | None) -> tuple[float, float]:
    """Sort key, most throttled first: (throttled %, usage %), negated."""
    if r is None:
        return (1.0, 1.0)
    return (-(r.throttled_pct or 0.0), -(r.usage_pct or 0.0))


def _process_label(frame: Frame, pid: int) -> Text:
    p = frame.process(pid)
    t = Text()
    t.append(f"{pid:>7} ", style="dim")
    if p is None:
        t.append("?", style="dim")
        return t
    t.append(safe(p.comm))
    if p.state not in ("S", "R", "I"):
        t.append(f" {p.state}", style="dim")
    return t


def process_entry(frame: Frame, parent_key: str, pid: int) -> Entry:
    p = frame.process(pid)
    # a lambda, so the text is built only when the filter asks (PLW0108's inlining
    # would build it for every entry every second)
    search = ((lambda: f"{pid} {p.comm} {p.command}".lower())  # noqa: PLW0108
              if p is not None else str(pid))
    return Entry(f"{parent_key}|pid:{pid}", None, Ref("process", pid), search=search,
                 make=lambda: _process_label(frame, pid),
                 stamp=(p.comm, p.state) if p is not None else None)


def process_entries(frame: Frame, parent_key: str, pids: Iterable[int],
                    limit: int | None, pin: int | None = None) -> list[Entry]:
    """Entries for ``pids``, at most ``limit`` of them (plus ``pin``, the followed pid)."""
    pids = list(pids)
    shown = pids if limit is None else pids[:limit]
    if pin is not None and limit is not None and len(pids) > limit and pin not in shown \
            and pin in pids:
        shown = shown + [pin]
    out = [process_entry(frame, parent_key, pid) for pid in shown]
    if len(shown) < len(pids):
        more = Text(f"… {len(pids) - len(shown)} more (/ filters, f follows a pid)",
                    style="dim italic")
        out.append(Entry(f"{parent_key}|more", more, NO_REF))
    return out


class Outline:
    """One view of the left pane."""

    #: the id of the view (also its tab id)
    name = ""
    title = ""

    def roots(self, frame: Frame, sort: bool) -> list[Entry]:
        raise NotImplementedError

    def children(self, frame: Frame, entry: Entry, sort: bool,
                 limit: int | None = PROC_LIMIT, pin: int | None = None) -> list[Entry]:
        raise NotImplementedError

    def path_to(self, frame: Frame, pid: int) -> list[str] | None:
        """Keys from a root to the entry of process ``pid``; None when it has no place here."""
        raise NotImplementedError

    def walk(self, frame: Frame, sort: bool) -> Iterable[tuple[Entry, tuple[str, ...]]]:
        """Every entry with the keys of its ancestors, depth first, no limit (for the filter)."""
        stack: list[tuple[Entry, tuple[str, ...]]] = [
            (e, ()) for e in reversed(self.roots(frame, sort))]
        while stack:
            e, up = stack.pop()
            yield e, up
            if e.expandable:
                below = up + (e.key,)
                stack.extend((c, below) for c in reversed(self.children(frame, e, sort, None)))


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


# --- Namespaces: user namespace hierarchy -> owned namespaces -> processes -----------

class NamespacesOutline(Outline):
    name = "namespaces"
    title = "Namespaces"

    def _index(self, frame: Frame) -> dict[str, Any]:
        def make() -> dict[str, Any]:
            snap = frame.snapshot
            users = {ino: ns for ino, ns in snap.namespaces.items() if ns.type == "user"}
            roots, kids, owned = user_tree(snap)
            return {"roots": roots, "kids": kids, "owned": owned, "users": users}
        return frame.cached("ns_index", make)

    def _ns_label(self, frame: Frame, ns: Namespace) -> Text:
        t = Text()
        t.append(f"{ns.type:<6} ", style="bold" if ns.type == "user" else "")
        t.append(str(ns.ino))
        if frame.snapshot.is_host(ns):
            t.append(" host", style="green")
        if ns.type == "user" and ns.owner_uid is not None:
            t.append(f"  uid {ns.owner_uid}", style="dim")
        t.append(f"  {ns.nprocs} proc{'' if ns.nprocs == 1 else 's'}", style="dim")
        if not ns.pids:
            kept = (ns.nsfs + ns.holders)[:1]
            t.append("  kept by " + kept[0] if kept else "  no processes", style="yellow")
        return t

    def _ns_entry(self, frame: Frame, parent_key: str, ns: Namespace) -> Entry:
        prefix = "u" if ns.type == "user" else "ns"
        key = f"{parent_key}|{prefix}:{ns.ino}" if parent_key else f"{prefix}:{ns.ino}"
        expandable = bool(ns.pids) or ns.type == "user"
        return Entry(key, self._ns_label(frame, ns), Ref("namespace", ns.ino), expandable,
                     search=f"{ns.type} {ns.ino} {' '.join(ns.nsfs)}".lower())

    def roots(self, frame: Frame, sort: bool) -> list[Entry]:
        idx = self._index(frame)
        out = [self._ns_entry(frame, "", u) for u in idx["roots"]]
        if idx["owned"].get(None):
            out.append(Entry("ns:unowned", Text("owner unknown", style="dim italic"),
                             Ref("group", "unowned"), expandable=True))
        if not out:
            out.append(Entry("none", Text("no namespaces visible", style="dim"), NO_REF))
        return out

    def children(self, frame: Frame, entry: Entry, sort: bool,
                 limit: int | None = PROC_LIMIT, pin: int | None = None) -> list[Entry]:
        idx = self._index(frame)
        kind, ident = entry.ref
        if kind == "group" and ident == "unowned":
            return [self._ns_entry(frame, entry.key, n) for n in idx["owned"].get(None, [])]
        if kind == "group" and isinstance(ident, tuple) and ident[0] == "members":
            ns = frame.snapshot.namespaces.get(ident[1])
            return process_entries(frame, entry.key, ns.pids if ns else (), limit, pin)
        if kind != "namespace":
            return []
        ns = frame.snapshot.namespaces.get(ident)
        if ns is None:
            return []
        if ns.type != "user":
            return process_entries(frame, entry.key, ns.pids, limit, pin)
        out = [self._ns_entry(frame, entry.key, n) for n in idx["kids"].get(ns.ino, [])]
        out += [self._ns_entry(frame, entry.key, n) for n in idx["owned"].get(ns.ino, [])]
        if ns.pids:
            t = Text(f"members of user {ns.ino}", style="italic")
            t.append(f"  {ns.nprocs} proc{'' if ns.nprocs == 1 else 's'}", style="dim")
            out.append(Entry(f"{entry.key}|members", t, Ref("group", ("members", ns.ino)),
                             expandable=True))
        return out

    def path_to(self, frame: Frame, pid: int) -> list[str] | None:
        p = frame.process(pid)
        if p is None or not p.ns:
            return None
        idx = self._index(frame)
        users = idx["users"]
        target = frame.snapshot.namespaces.get(p.ns.get("pid", -1))
        if target is None:
            return None
        owner = target.owner if target.owner in users else None
        if owner is None and frame.snapshot.is_host(target):
            owner = frame.snapshot.host_ns.get("user")
        if owner is None or owner not in users:
            base = ["ns:unowned"]
        else:
            chain = [owner]
            while users[chain[-1]].parent in users:
                chain.append(users[chain[-1]].parent)
            chain.reverse()
            base, key = [], ""
            for ino in chain:
                key = f"{key}|u:{ino}" if key else f"u:{ino}"
                base.append(key)
        ns_key = f"{base[-1]}|ns:{target.ino}"
        return base + [ns_key, f"{ns_key}|pid:{pid}"]


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



OUTLINES: tuple[Outline, ...] = (ContainersOutline(), NamespacesOutline(), CgroupsOutline())


def filtered(outline: Outline, frame: Frame, sort: bool, query: str,
             limit: int = PROC_LIMIT) -> tuple[dict[str | None, list[Entry]], set[str]]:
    """The entries matching ``query`` and their ancestors: (parent key -> children, keys
    to expand). The root level is under the key None."""
    q = query.lower()
    keep: dict[str, tuple[Entry, tuple[str, ...]]] = {}
    expand: set[str] = set()
    order: list[str] = []
    all_entries: dict[str, tuple[Entry, tuple[str, ...]]] = {}
    for e, up in outline.walk(frame, sort):
        all_entries[e.key] = (e, up)
        order.append(e.key)
        if q in e.search:
            keep[e.key] = (e, up)
            expand.update(up)
    shown = set(keep) | expand
    tree: dict[str | None, list[Entry]] = {}
    for key in order:
        if key not in shown:
            continue
        e, up = all_entries[key]
        parent = up[-1] if up else None
        siblings = tree.setdefault(parent, [])
        if len(siblings) < limit:
            siblings.append(e)
    return tree, expand


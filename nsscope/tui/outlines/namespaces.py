"""The Namespaces view: the user-namespace hierarchy -> owned namespaces -> processes."""

from __future__ import annotations

from typing import Any

from rich.text import Text

from nsscope.host import labels
from nsscope.host.model import Namespace
from nsscope.printable import safe
from nsscope.host.queries import user_tree
from nsscope.tui.frame import Frame
from nsscope.tui.outlines.base import (KTHREADS, NO_REF, PROC_LIMIT, Entry, Outline, Ref,
                                       kthread_children, process_entries, process_keys)
from nsscope.tui.outlines.labels import count, shorten

#: container names listed on a namespace's row (the details pane lists them all)
NAMES_SHOWN = 3

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
        host = frame.snapshot.is_host(ns)
        if host:
            t.append("  host", style="green")
        if ns.type == "user" and ns.owner_uid is not None:
            t.append(f"  uid {ns.owner_uid}", style="dim")
        t.append(f"  {count(ns.nprocs, 'proc')}", style="dim")
        if not ns.pids:
            kept = (ns.nsfs + ns.holders)[:1]
            t.append("  kept by " + safe(kept[0]) if kept else "  no processes", style="yellow")
        if not host:
            # who lives here: the containers whose main process is a member (the host's
            # namespaces hold every container that shares them: not listed)
            t.append_text(containers_label(frame, ns.ino))
        return t

    def _ns_entry(self, frame: Frame, parent_key: str, ns: Namespace) -> Entry:
        prefix = "u" if ns.type == "user" else "ns"
        key = f"{parent_key}|{prefix}:{ns.ino}" if parent_key else f"{prefix}:{ns.ino}"
        expandable = bool(ns.pids) or ns.type == "user"
        names = " ".join(labels.name(c) for c in frame.containers_in(ns.ino))
        return Entry(key, self._ns_label(frame, ns), Ref("namespace", ns.ino), expandable,
                     search=f"{ns.type} {ns.ino} {' '.join(ns.nsfs)} {names}".lower())

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
        if kind == KTHREADS:
            return kthread_children(frame, entry, limit, pin)
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
        return [*base, ns_key, *process_keys(frame, ns_key, pid)]


def containers_label(frame: Frame, ino: int) -> Text:
    """'  web, db' or '  api, POD +2 more' for the containers in namespace ``ino``."""
    t = Text()
    cs = frame.containers_in(ino)
    if not cs:
        return t
    t.append("  ")
    for i, c in enumerate(cs[:NAMES_SHOWN]):
        if i:
            t.append(", ", style="dim")
        t.append(shorten(safe(labels.name(c)), 30), style="magenta")
    if len(cs) > NAMES_SHOWN:
        t.append(f" +{len(cs) - NAMES_SHOWN} more", style="dim")
    return t

"""``Outline``: what a tree view shows for a ``Frame`` (its top entries and the
children of an entry); ``Entry`` and ``Ref``; the filter; process entries.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from itertools import islice
from typing import Any, NamedTuple

from rich.text import Text

from nsscope.printable import safe
from nsscope.tui.frame import Frame

#: processes listed under one node; the filter finds the others
PROC_LIMIT = 200


class Ref(NamedTuple):
    """What an entry stands for: ("container", key), ("process", pid), ("cgroup", path),
    ("namespace", ino), ("runtime", name), or ("none", None)."""

    kind: str
    ident: Any = None


NO_REF = Ref("none")
#: the kind of the folded row of kernel threads (its ident: their pids)
KTHREADS = "kthreads"


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
                    limit: int | None, pin: int | None = None, fold: bool = True) -> list[Entry]:
    """Entries for ``pids``, at most ``limit`` of them (plus ``pin``, the followed pid).

    Kernel threads are folded into one row (htop's K): the dozens of kthreadd's
    children in the root cgroup and the host's namespaces are not what anyone
    looks for there; the row unfolds like any node (enter, or K for every one).
    """
    pids = list(pids)
    kthreads: list[int] = []
    here: frozenset[int] = frozenset()
    user: Iterable[int] = pids
    total = len(pids)
    if fold:
        # the frame's kernel threads as one set, intersected in C, and the user
        # processes taken only as far as the limit: asking each of the root cgroup's
        # 10,000 processes whether it is one was a tenth of a frame
        here = frame.kernel_threads().intersection(pids)
        if here:
            kthreads = sorted(here)
            total -= len(here)
            user = (pid for pid in pids if pid not in here)
    shown = list(user) if limit is None else list(islice(user, limit))
    if pin is not None and limit is not None and total > limit and pin not in shown \
            and pin in pids and pin not in here:
        shown = shown + [pin]
    out = [process_entry(frame, parent_key, pid) for pid in shown]
    if len(shown) < total:
        more = Text(f"… {total - len(shown)} more (/ filters, f follows a pid)",
                    style="dim italic")
        out.append(Entry(f"{parent_key}|more", more, NO_REF))
    if kthreads:
        label = Text(f"{len(kthreads)} kernel thread{'' if len(kthreads) == 1 else 's'}",
                     style="italic")
        label.append("  K unfolds", style="dim")
        out.append(Entry(f"{parent_key}|{KTHREADS}", label, Ref(KTHREADS, tuple(kthreads)),
                         expandable=True, search="kernel threads",
                         stamp=("kthreads", len(kthreads))))
    return out


def kthread_children(frame: Frame, entry: Entry, limit: int | None,
                     pin: int | None = None) -> list[Entry]:
    """The kernel threads of a folded row."""
    return process_entries(frame, entry.key, entry.ref.ident, limit, pin, fold=False)


def process_keys(frame: Frame, parent_key: str, pid: int) -> list[str]:
    """The keys from ``parent_key`` down to process ``pid`` (through its kernel-thread row)."""
    p = frame.process(pid)
    if p is not None and p.kernel_thread:
        row = f"{parent_key}|{KTHREADS}"
        return [row, f"{row}|pid:{pid}"]
    return [f"{parent_key}|pid:{pid}"]


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

    def filtered_label(self, frame: Frame, entry: Entry, shown: int) -> Text | None:
        """A group header's label while filtering: what matched of what it holds ("docker
        1 of 3 containers"); None keeps the label."""
        return None

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



def filtered(outline: Outline, frame: Frame, sort: bool, query: str,
             limit: int = PROC_LIMIT) -> tuple[dict[str | None, list[Entry]], set[str]]:
    """The entries matching ``query`` and their ancestors: (parent key -> children, keys
    to expand). The root level is under the key None. A group header counts what matched
    below it (``Outline.filtered_label``); when nothing matches, the root level is one
    row that says so."""
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
    if not tree:
        t = Text("no match for ", style="yellow")
        t.append(repr(query), style="bold")
        t.append("  (escape clears the filter)", style="dim")
        tree[None] = [Entry("nomatch", t, NO_REF)]
        return tree, expand
    for siblings in tree.values():
        for i, e in enumerate(siblings):
            if e.key in keep and e.key not in expand:
                continue  # matched itself, nothing below it counted
            label = outline.filtered_label(frame, e, len(tree.get(e.key, ())))
            if label is not None:
                siblings[i] = Entry(e.key, label, e.ref, e.expandable, search=e.search)
    return tree, expand

"""``nsscope ls``: the namespaces, like lsns(8), processless ones included."""

from __future__ import annotations

import sys

from nsscope.host.collector import collect, roots_of
from nsscope.errors import AccessDenied, BadInput, NoSuchProcess
from nsscope.host.model import NS_TYPES, Namespace, Snapshot
from nsscope.host.processes import parse_pid
from nsscope.host.users import user_name
from nsscope.cli import replay, table

# a view imports only what it prints with: argparse (with re, gettext, locale),
# json (with re), typing and collections are ~30 ms of start-up, more than the
# whole of `nsscope ls` on a small host; mypy treats any TYPE_CHECKING as true
TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse
    from collections.abc import Iterable
    from typing import Any

#: column -> (lsns JSON key, right-aligned)
COLUMNS: dict[str, tuple[str, bool]] = {
    "NS": ("ns", True),
    "TYPE": ("type", False),
    "PATH": ("path", False),
    "NPROCS": ("nprocs", True),
    "PID": ("pid", True),
    "PPID": ("ppid", True),
    "COMMAND": ("command", False),
    "UID": ("uid", True),
    "USER": ("user", False),
    "NETNSID": ("netnsid", True),
    "NSFS": ("nsfs", False),
    "PNS": ("pns", True),
    "ONS": ("ons", True),
    "HOST": ("host", False),
}
DEFAULT_COLUMNS = ("NS", "TYPE", "NPROCS", "PID", "USER", "COMMAND")


def parse_columns(spec: str | None) -> tuple[str, ...]:
    """``-o LIST`` replaces the columns, ``-o +LIST`` appends (util-linux convention)."""
    if not spec:
        return DEFAULT_COLUMNS
    base: tuple[str, ...] = ()
    if spec.startswith("+"):
        base, spec = DEFAULT_COLUMNS, spec[1:]
    cols = tuple(c.strip().upper() for c in spec.split(",") if c.strip())
    for c in cols:
        if c not in COLUMNS:
            raise BadInput(f"unknown column: {c} (known: {', '.join(COLUMNS)})")
    return base + tuple(c for c in cols if c not in base)


def parse_types(types: Iterable[str] | None) -> tuple[str, ...]:
    out = []
    for t in types or ():
        for one in t.split(","):
            if one not in NS_TYPES:
                raise BadInput(f"unknown namespace type: {one} (known: {', '.join(NS_TYPES)})")
            out.append(one)
    return tuple(out)


def select(snap: Snapshot, types: tuple[str, ...] = (), pid: int | None = None) -> list[Namespace]:
    """The namespaces to list, ascending by inode (lsns's order)."""
    if pid is not None:
        wanted = {ino for link, ino in snap.processes[pid].ns.items() if "_for_" not in link}
        nss = [snap.namespaces[i] for i in wanted if i in snap.namespaces]
    else:
        nss = list(snap.namespaces.values())
    if types:
        nss = [n for n in nss if n.type in types]
    return sorted(nss, key=lambda n: n.ino)


def record(snap: Snapshot, ns: Namespace) -> dict[str, Any]:
    """Every column of one namespace, under lsns's JSON keys."""
    proc = snap.processes.get(ns.pid) if ns.pid is not None else None
    if proc is not None:
        path = f"/proc/{proc.pid}/ns/{ns.type}"
    elif ns.nsfs:
        path = ns.nsfs[0]
    elif ns.holders:
        path = ns.holders[0]
    else:
        path = None
    return {
        "ns": ns.ino,
        "type": ns.type,
        "path": path,
        "nprocs": ns.nprocs,
        "pid": ns.pid,
        "ppid": proc.ppid if proc else None,
        "command": proc.command if proc else None,
        "uid": proc.uid if proc else None,
        "user": user_name(proc.uid) if proc else None,
        "netnsid": ns.netnsid,
        "nsfs": ns.nsfs[0] if ns.nsfs else None,
        "pns": ns.parent if ns.parent is not None else 0,
        "ons": ns.owner if ns.owner is not None else 0,
        "host": snap.is_host(ns),
    }


def to_json(snap: Snapshot, nss: list[Namespace], columns: tuple[str, ...]) -> dict[str, Any]:
    keys = [COLUMNS[c][0] for c in columns]
    items = []
    for ns in nss:
        rec = record(snap, ns)
        items.append({k: rec[k] for k in keys})
    return {"namespaces": items, "not_visible": list(snap.hidden)}


def to_rows(snap: Snapshot, nss: list[Namespace], columns: tuple[str, ...]) -> list[list[Any]]:
    rows = []
    for ns in nss:
        rec = record(snap, ns)
        row = []
        for c in columns:
            v = rec[COLUMNS[c][0]]
            if c == "HOST":
                v = "host" if v else ""
            elif c == "NETNSID" and v is None and ns.type == "net":
                v = "unassigned"  # as lsns prints it
            row.append("" if v is None else v)
        rows.append(row)
    return rows


# --- command line ---------------------------------------------------------------

#: the options ``add_arguments`` declares, for the fast path that reads a
#: well-formed command line without argparse (nsscope.cli.parse_simple; a
#: property test holds the two to the same answers): option -> (dest, action)
FAST_OPTIONS = {
    "-t": ("type", "append"), "--type": ("type", "append"),
    "-p": ("task", "store"), "--task": ("task", "store"),
    "-o": ("output", "store"), "--output": ("output", "store"),
    "--output-all": ("output_all", "store_true"),
    "-J": ("json", "store_true"), "--json": ("json", "store_true"),
    "-n": ("noheadings", "store_true"), "--noheadings": ("noheadings", "store_true"),
    **replay.FAST_OPTIONS,
}
FAST_POSITIONALS: tuple[str, ...] = ()


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("-t", "--type", action="append", metavar="TYPE",
                   help=f"only this type (repeatable): {', '.join(NS_TYPES)}")
    p.add_argument("-p", "--task", metavar="PID", help="the namespaces of this process")
    p.add_argument("-o", "--output", metavar="LIST",
                   help=f"columns (+LIST appends): {', '.join(COLUMNS)}")
    p.add_argument("--output-all", action="store_true", help="every column")
    p.add_argument("-J", "--json", action="store_true", help="JSON (lsns's keys, one flat list)")
    p.add_argument("-n", "--noheadings", action="store_true", help="no header line")
    replay.add_arguments(p)


def run(args: argparse.Namespace) -> int:
    columns = tuple(COLUMNS) if args.output_all else parse_columns(args.output)
    types = parse_types(args.type)
    pid = parse_pid(args.task) if args.task is not None else None
    # namespaces and processes only: no cgroup or container is shown (nor read),
    # the netns ids (a netlink socket) only when their column is, and of the
    # processes only those a row names (each namespace's first member: -p names
    # any process, so then all are read)
    snap = collect(roots_of(args), cgroups=False, containers=False,
                   netnsid="NETNSID" in columns, leaders_only=pid is None)
    if pid is not None:
        if pid not in snap.processes:
            raise NoSuchProcess(pid)
        if not snap.processes[pid].visible:
            raise AccessDenied(f"/proc/{pid}/ns", f"namespaces of pid {pid} are hidden by the "
                               "kernel (ptrace access mode check)")
    nss = select(snap, types, pid)
    if args.json:
        import json
        # one write of the whole text: json.dump writes each of its thousands of pieces
        sys.stdout.write(json.dumps(to_json(snap, nss, columns), indent=2))
        sys.stdout.write("\n")
        return 0
    text = table.render(columns, to_rows(snap, nss, columns), [COLUMNS[c][1] for c in columns])
    if args.noheadings:
        text = text.split("\n", 1)[1] if "\n" in text else ""
    if text:
        print(text)
    if snap.hidden and sys.stderr.isatty():
        sys.stderr.write(f"nsscope: {len(snap.hidden)} process(es) not visible to this user\n")
    return 0

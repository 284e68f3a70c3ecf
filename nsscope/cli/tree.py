"""``nsscope tree``: the user-namespace hierarchy, or the cgroup tree (``--cgroups``).

User namespaces own every other namespace (NS_GET_USERNS) and nest
(NS_GET_PARENT); that is the tree the kernel's permission checks walk, so it
is the tree shown: each user namespace, the namespaces it owns, the
processes in them.
"""

from __future__ import annotations

import sys

from nsscope.host import labels
from nsscope.host.collector import collect, roots_of
from nsscope.host.model import Cgroup, Container, Namespace, Snapshot
from nsscope.cli import replay, table
from nsscope.host.queries import cgroup_children, user_tree
from nsscope.printable import safe

# a view imports only what it prints with (see nsscope.cli.ls); mypy treats any
# TYPE_CHECKING as true
TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse
    from typing import Any

#: processes listed under one namespace in text mode (``--all`` lifts it)
TEXT_PROCS = 8

_TEE, _ELBOW, _PIPE, _BLANK = "├─ ", "└─ ", "│  ", "   "


# --- the namespace tree ---------------------------------------------------------

def _proc_json(snap: Snapshot, pid: int) -> dict[str, Any]:
    p = snap.processes.get(pid)
    return {"pid": pid, "comm": p.comm if p else None, "command": p.command if p else None}


def containers_in(snap: Snapshot, ns: Namespace,
                  by_pid: dict[int, Container] | None = None) -> list[Container]:
    """The containers (sandboxes too) with a process in ``ns``, by name."""
    if by_pid is None:
        by_pid = container_of_pid(snap)
    found = {by_pid[pid].key: by_pid[pid] for pid in ns.pids if pid in by_pid}
    return sorted(found.values(), key=lambda c: (labels.name(c), c.key))


def container_of_pid(snap: Snapshot) -> dict[int, Container]:
    """pid -> its container (a pod's infra container never wins over the others)."""
    out: dict[int, Container] = {}
    for c in sorted(snap.containers, key=lambda c: not c.infra):
        for pid in c.pids:
            out[pid] = c
    return out


def _ns_json(snap: Snapshot, ns: Namespace, by_pid: dict[int, Container]) -> dict[str, Any]:
    return {"ns": ns.ino, "type": ns.type, "nprocs": ns.nprocs, "host": snap.is_host(ns),
            "nsfs": list(ns.nsfs), "holders": list(ns.holders), "parent": ns.parent,
            "processes": [_proc_json(snap, pid) for pid in ns.pids],
            "containers": [labels.ref(c) for c in containers_in(snap, ns, by_pid)]}


def namespaces_json(snap: Snapshot) -> dict[str, Any]:
    roots, children, owned = user_tree(snap)
    by_pid = container_of_pid(snap)

    def user_node(u: Namespace) -> dict[str, Any]:
        node = _ns_json(snap, u, by_pid)
        node["owner_uid"] = u.owner_uid
        node["namespaces"] = [_ns_json(snap, n, by_pid) for n in owned.get(u.ino, [])]
        node["children"] = [user_node(c) for c in children.get(u.ino, [])]
        return node

    out: dict[str, Any] = {"users": [user_node(u) for u in roots]}
    if owned.get(None):
        out["unowned"] = [_ns_json(snap, n, by_pid) for n in owned[None]]
    return out


#: containers named on one namespace's line; the rest are counted
TEXT_CONTAINERS = 3


def _ns_label(snap: Snapshot, ns: Namespace, by_pid: dict[int, Container] | None = None) -> str:
    bits = [f"{ns.type} {ns.ino}"]
    if snap.is_host(ns):
        bits.append("host")
    if ns.type == "user" and ns.owner_uid is not None:
        bits.append(f"owner uid {ns.owner_uid}")
    bits.append(f"{ns.nprocs} proc" + ("" if ns.nprocs == 1 else "s"))
    bits.extend(f"nsfs {safe(p)}" for p in ns.nsfs)
    bits.extend(f"held by {safe(p)}" for p in ns.holders[:3])
    label = bits[0] + "  (" + ", ".join(bits[1:]) + ")"
    if by_pid and not snap.is_host(ns):
        # who lives there, in the user's words (issue 15); a host namespace holds
        # every container that shares it, which says nothing
        cs = containers_in(snap, ns, by_pid)
        if cs:
            shown = ", ".join(safe(labels.title(c)) for c in cs[:TEXT_CONTAINERS])
            more = len(cs) - TEXT_CONTAINERS
            label += f"  ← {shown}" + (f" and {more} more" if more > 0 else "")
    return label


def namespaces_text(snap: Snapshot, *, all_procs: bool = False) -> str:
    roots, children, owned = user_tree(snap)
    lines: list[str] = []
    by_pid = container_of_pid(snap)

    def procs(ns: Namespace, prefix: str) -> None:
        pids = ns.pids if all_procs else ns.pids[:TEXT_PROCS]
        more = len(ns.pids) - len(pids)
        for i, pid in enumerate(pids):
            last = i == len(pids) - 1 and not more
            p = snap.processes.get(pid)
            lines.append(f"{prefix}{_ELBOW if last else _TEE}{pid} {safe(p.command) if p else '?'}")
        if more:
            lines.append(f"{prefix}{_ELBOW}… {more} more (--all)")

    def user(u: Namespace, prefix: str, branch: str, cont: str) -> None:
        lines.append(prefix + branch + _ns_label(snap, u, by_pid))
        inner = prefix + cont
        kids: list[tuple[str, Any]] = [("ns", n) for n in owned.get(u.ino, [])]
        kids += [("user", c) for c in children.get(u.ino, [])]
        for i, (kind, n) in enumerate(kids):
            last = i == len(kids) - 1
            if kind == "user":
                user(n, inner, _ELBOW if last else _TEE, _BLANK if last else _PIPE)
            else:
                lines.append(inner + (_ELBOW if last else _TEE) + _ns_label(snap, n, by_pid))
                if not snap.is_host(n) or all_procs:
                    procs(n, inner + (_BLANK if last else _PIPE))

    for u in roots:
        user(u, "", "", "")
    if owned.get(None):
        lines.append("(owner not known)")
        for i, n in enumerate(owned[None]):
            last = i == len(owned[None]) - 1
            lines.append((_ELBOW if last else _TEE) + _ns_label(snap, n, by_pid))
            if not snap.is_host(n) or all_procs:
                procs(n, _BLANK if last else _PIPE)
    return "\n".join(lines)


# --- the cgroup tree -------------------------------------------------------------

def cgroup_record(cg: Cgroup) -> dict[str, Any]:
    cpu = cg.cpu
    return {
        "path": cg.path,
        "hierarchies": list(cg.hierarchies),
        "procs": list(cg.procs),
        "cpu": None if cpu is None else {
            "usage_usec": cpu.usage_usec, "user_usec": cpu.user_usec,
            "system_usec": cpu.system_usec, "nr_periods": cpu.nr_periods,
            "nr_throttled": cpu.nr_throttled, "throttled_usec": cpu.throttled_usec,
            "quota_usec": cpu.quota_usec, "period_usec": cpu.period_usec,
            "limit_cpus": cpu.limit_cpus, "weight": cpu.weight, "shares": cpu.shares,
            "pressure": None if cpu.pressure is None else {
                "some_avg10": cpu.pressure.some_avg10, "some_avg60": cpu.pressure.some_avg60,
                "some_avg300": cpu.pressure.some_avg300,
                "some_total_usec": cpu.pressure.some_total,
                "full_avg10": cpu.pressure.full_avg10,
                "full_total_usec": cpu.pressure.full_total},
        },
        "memory": None if cg.memory is None else {"current": cg.memory.current,
                                                  "max": cg.memory.max},
        "pids": None if cg.pids is None else {"current": cg.pids.current, "max": cg.pids.max},
    }


def cgroups_json(snap: Snapshot) -> dict[str, Any]:
    kids = cgroup_children(snap)
    index = labels.by_cgroup(snap.containers)

    def node(cg: Cgroup) -> dict[str, Any]:
        rec = cgroup_record(cg)
        c = index.get(cg.path)
        rec["container"] = labels.ref(c) if c is not None else None
        rec["children"] = [node(c) for c in kids.get(cg.path, [])]
        return rec

    return {"mode": snap.cgroup_mode,
            "hierarchies": [{"key": h.key, "version": h.version,
                             "controllers": list(h.controllers)} for h in snap.hierarchies],
            "cgroups": [node(c) for c in kids.get(None, [])]}


def _limit(cg: Cgroup) -> str:
    cpus = cg.cpu.limit_cpus if cg.cpu else None
    return "-" if cpus is None else f"{cpus * 100:.0f}%"


def _throttled(cg: Cgroup) -> str:
    cpu = cg.cpu
    if cpu is None or cpu.nr_periods is None:
        return "-"
    return f"{cpu.nr_throttled}/{cpu.nr_periods}"


def cgroups_text(snap: Snapshot) -> str:
    kids = cgroup_children(snap)
    index = labels.by_cgroup(snap.containers)
    rows: list[list[Any]] = []

    def walk(cg: Cgroup, prefix: str, branch: str, cont: str) -> None:
        cpu, mem, pids = cg.cpu, cg.memory, cg.pids
        rows.append([
            prefix + branch + cg.name,
            labels.title(index[cg.path]) if cg.path in index else "",
            len(cg.procs),
            table.human_usec(cpu.usage_usec) if cpu else "-",
            _limit(cg),
            _throttled(cg),
            table.human_usec(cpu.throttled_usec) if cpu else "-",
            f"{table.human_bytes(mem.current)}/{table.human_bytes(mem.max)}"
            if mem and mem.current is not None else "-",
            f"{pids.current}/{pids.max if pids.max is not None else 'max'}"
            if pids and pids.current is not None else "-",
        ])
        children = kids.get(cg.path, [])
        for i, c in enumerate(children):
            last = i == len(children) - 1
            walk(c, prefix + cont, _ELBOW if last else _TEE, _BLANK if last else _PIPE)

    for root in kids.get(None, []):
        walk(root, "", "", "")
    headers = ["CGROUP", "CONTAINER", "PROCS", "CPU", "LIMIT", "THROTTLED", "THR-TIME", "MEMORY",
               "PIDS"]
    head = f"cgroup mode: {snap.cgroup_mode}\n"
    return head + table.render(headers, rows,
                               [False, False, True, True, True, True, True, True, True])


# --- command line ------------------------------------------------------------------

#: the command line read without argparse (nsscope.cli.FAST_VIEWS); add_arguments below
#: is the oracle (tests/unit/cli/test_fast_parse.py)
FAST_OPTIONS = {
    "--cgroups": ("cgroups", "store_true"), "--all": ("all", "store_true"),
    "-J": ("json", "store_true"), "--json": ("json", "store_true"),
    "--state-root": ("state_root", "store"),
    **replay.FAST_OPTIONS,
}
FAST_POSITIONALS: tuple[str, ...] = ()


def add_arguments(p: argparse.ArgumentParser) -> None:
    import argparse

    p.add_argument("--cgroups", action="store_true", help="the cgroup tree with figures")
    p.add_argument("--all", action="store_true", help="list every process, host ones too")
    p.add_argument("-J", "--json", action="store_true", help="JSON")
    # a captured tree's runtime state (as ps --state-root), for the containers' names
    p.add_argument("--state-root", metavar="DIR", help=argparse.SUPPRESS)
    replay.add_arguments(p)


def run(args: argparse.Namespace) -> int:
    roots = roots_of(args)
    if getattr(args, "state_root", None):
        from nsscope.host.containers.state_paths import StatePaths
        roots = roots._replace(state=StatePaths().under(args.state_root))
    if args.cgroups:
        # the cgroup tree with its figures and the containers whose cgroups they are:
        # no namespace is shown
        snap = collect(roots, namespaces=False)
    else:
        # the namespace tree and the containers in each: no cgroup or netns id is shown
        snap = collect(roots, cgroups=False, netnsid=False)
    if args.cgroups:
        data, text = (cgroups_json(snap) if args.json else None,
                      None if args.json else cgroups_text(snap))
    else:
        data, text = (namespaces_json(snap) if args.json else None,
                      None if args.json else namespaces_text(snap, all_procs=args.all))
    if data is not None:
        import json
        json.dump(data, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        print(text)
    return 0

"""``nsscope show TARGET``: everything about one process.

Its identity, each namespace (marked ``host`` when it is the initial one, with
who else is in it), its cgroup in every hierarchy with that cgroup's limits and
current figures, and its container if it is in one.
"""

from __future__ import annotations

import sys

from nsscope.host.collector import collect, roots_of
from nsscope.errors import AccessDenied, NoSuchProcess
from nsscope.host.model import NS_LINKS, Container, Snapshot
from nsscope.host.targets import resolve
from nsscope.host.users import user_name
from nsscope.cli import replay, table
from nsscope.cli.tree import cgroup_record
from nsscope.printable import safe

# a view imports only what it prints with (see nsscope.cli.ls); mypy treats any
# TYPE_CHECKING as true
TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse
    from typing import Any


def _container_json(c: Container | None) -> dict[str, Any] | None:
    if c is None:
        return None
    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in c._asdict().items()}


#: the cpu figures each controller gives: the v1 cpu controller's bandwidth and weight
#: (cpu.cfs_*, cpu.stat, cpu.shares), cpuacct's usage (cpuacct.usage, cpuacct.stat);
#: PSI (cpu.pressure) is cgroup2's, on a hybrid host too
CPU_FIELDS = ("nr_periods", "nr_throttled", "throttled_usec", "quota_usec", "period_usec",
              "limit_cpus", "weight", "shares")
CPUACCT_FIELDS = ("usage_usec", "user_usec", "system_usec")


def _cpu_of(cpu: dict[str, Any] | None, ctrls: set[str], *, v2: bool,
            unified: bool) -> dict[str, Any] | None:
    """The part of a cgroup's cpu figures that this hierarchy's controllers give."""
    if not cpu:
        return None
    if v2 and unified:
        return cpu  # one hierarchy: cpu.max, cpu.stat, cpu.pressure are all its own
    names: tuple[str, ...] = ()
    if v2:
        names = ("pressure",)  # a hybrid host's cgroup2: only PSI is its own
    else:
        if "cpu" in ctrls:
            names += CPU_FIELDS
        if "cpuacct" in ctrls:
            names += CPUACCT_FIELDS
    out = {k: cpu[k] for k in names if k in cpu}
    return out if any(v is not None for v in out.values()) else None


def record(snap: Snapshot, pid: int) -> dict[str, Any]:
    p = snap.processes[pid]
    namespaces = []
    for link in NS_LINKS:
        ino = p.ns.get(link)
        if ino is None:
            continue
        ns = snap.namespaces.get(ino)
        typ = ns.type if ns else link
        namespaces.append({
            "link": link, "type": typ, "ns": ino,
            "host": snap.host_ns.get(typ) == ino,
            "nprocs": ns.nprocs if ns else None,
            "owner": ns.owner if ns else None,
            "parent": ns.parent if ns else None,
            "nsfs": list(ns.nsfs) if ns else [],
        })
    cgroups = []
    unified = snap.cgroup_mode == "unified"
    v2_ctrls: tuple[str, ...] = ()
    for h in snap.hierarchies:
        if h.version == 2:
            v2_ctrls = h.controllers
    for key, path in p.cgroups.items():
        cg = snap.cgroups.get(path)
        rec: dict[str, Any] = {"hierarchy": key or "unified", "path": path}
        if cg is not None:
            # each hierarchy carries only its own controllers' figures (docs/json.md)
            ctrls = set(key.split(",")) if key else set(v2_ctrls)
            full = cgroup_record(cg)
            cpu = _cpu_of(full["cpu"], ctrls, v2=not key, unified=unified)
            if cpu:
                rec["cpu"] = cpu
            if "memory" in ctrls:
                rec["memory"] = full["memory"]
            if "pids" in ctrls:
                rec["pids"] = full["pids"]
            rec["nprocs"] = len(cg.procs)
        cgroups.append(rec)
    return {
        "pid": p.pid, "ppid": p.ppid, "uid": p.uid, "user": user_name(p.uid),
        "comm": p.comm, "command": p.command, "cmdline": list(p.cmdline), "state": p.state,
        "starttime": p.starttime, "kernel_thread": p.kernel_thread, "visible": p.visible,
        "namespaces": namespaces, "cgroups": cgroups,
        "container": _container_json(snap.container_of(pid)),
    }


def _cg_line(c: dict[str, Any]) -> str:
    bits = [f"{c['hierarchy']}: {safe(c['path'])}"]
    cpu, mem, pids = c.get("cpu"), c.get("memory"), c.get("pids")
    if "nprocs" in c:
        bits.append(f"{c['nprocs']} proc{'' if c['nprocs'] == 1 else 's'}")
    if cpu:
        if cpu.get("limit_cpus") is not None:
            bits.append(f"cpu limit {cpu['limit_cpus'] * 100:.0f}% "
                        f"({cpu['quota_usec']}/{cpu['period_usec']} µs)")
        elif cpu.get("period_usec") is not None:
            bits.append("cpu limit none")
        if cpu.get("usage_usec") is not None:
            bits.append(f"usage {table.human_usec(cpu['usage_usec'])}")
        if cpu.get("nr_periods"):
            bits.append(f"throttled {cpu['nr_throttled']}/{cpu['nr_periods']} periods, "
                        f"{table.human_usec(cpu['throttled_usec'])}")
        if cpu.get("pressure"):
            bits.append(f"psi some avg10 {cpu['pressure']['some_avg10']:.2f}")
    if mem and mem.get("current") is not None:
        bits.append(f"memory {table.human_bytes(mem['current'])}/{table.human_bytes(mem['max'])}")
    if pids and pids.get("current") is not None:
        bits.append(f"pids {pids['current']}/{pids['max'] if pids['max'] is not None else 'max'}")
    return bits[0] + ("  " + ", ".join(bits[1:]) if len(bits) > 1 else "")


def text(rec: dict[str, Any]) -> str:
    out = [
        f"pid {rec['pid']}  ppid {rec['ppid']}  user {safe(str(rec['user']))} ({rec['uid']})  "
        f"state {rec['state']}" + ("  kernel thread" if rec["kernel_thread"] else ""),
        f"command: {safe(rec['command'])}",
    ]
    c = rec["container"]
    if c:
        name = c.get("name") or c.get("id")
        out.append(f"container: {safe(str(name))} ({safe(str(c.get('runtime', '?')))})")
    else:
        out.append("container: none")
    out.append("namespaces:")
    if not rec["visible"]:
        out.append("  not visible (the kernel hides them from this user: ptrace access check)")
    else:
        rows = [[n["link"], n["ns"], "host" if n["host"] else "-",
                 "" if n["nprocs"] is None else n["nprocs"], n["owner"] or ""]
                for n in rec["namespaces"]]
        body = table.render(["TYPE", "NS", "HOST", "NPROCS", "OWNER"], rows,
                            [False, True, False, True, True])
        out.extend("  " + line for line in body.splitlines())
    out.append("cgroups:")
    out.extend("  " + _cg_line(cg) for cg in rec["cgroups"])
    return "\n".join(out)


#: the options ``add_arguments`` declares, for the fast path (see nsscope.cli.ls)
FAST_OPTIONS = {"-J": ("json", "store_true"), "--json": ("json", "store_true"),
                **replay.FAST_OPTIONS}
FAST_POSITIONALS = ("target",)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("target", metavar="TARGET",
                   help="a pid, or a container's name or id as `nsscope ps` lists it; "
                        "pid:PID, id:ID, name:NAME, ns:INODE say which without guessing")
    p.add_argument("-J", "--json", action="store_true", help="JSON")
    replay.add_arguments(p)


def run(args: argparse.Namespace) -> int:
    roots = roots_of(args)
    if roots.recording is not None:
        from nsscope.host.recording.targets import recorded_target
        snap = collect(roots)
        target = recorded_target(snap, args.target)
    else:
        target = resolve(args.target, roots.proc)
        # every process (namespace members, container recognition), the namespaces
        # without the fd walk or netns ids (show prints neither), and only the
        # cgroups of the target
        snap = collect(roots, fds=False, netnsid=False, cgroups=False, cgroups_of=target.pid)
    if target.pid not in snap.processes:
        raise NoSuchProcess(target.pid)
    rec = record(snap, target.pid)
    if not rec["visible"] and args.json is False and not rec["cgroups"]:
        raise AccessDenied(f"/proc/{target.pid}")
    if args.json:
        import json
        json.dump(rec, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        print(text(rec))
    return 0

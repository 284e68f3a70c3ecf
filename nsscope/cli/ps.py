"""``nsscope ps``: every container on the host, whatever made it, and the sandboxes."""

from __future__ import annotations

import os
import sys

from nsscope.host.collector import collect, roots_of
from nsscope.host.candidates import blind_spots
from nsscope.host.containers.state_paths import StatePaths, discover
from nsscope.host.model import Container
from nsscope.cli import replay, table
from nsscope.printable import safe

# a view imports only what it prints with (see nsscope.cli.ls); mypy treats any
# TYPE_CHECKING as true
TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse
    from collections.abc import Sequence
    from typing import Any

#: column -> right-aligned
COLUMNS: dict[str, bool] = {
    "ID": False, "NAME": False, "RUNTIME": False, "POD": False, "NAMESPACE": False,
    "PID": True, "STATE": False, "CPUS": True, "HOSTNS": False, "IMAGE": False,
    "CGROUP": False,
}


def select(containers: Sequence[Container], show_all: bool = False) -> list[Container]:
    """What ``ps`` lists: pause/infra containers only with ``-a``."""
    return [c for c in containers if show_all or not c.infra]


def record(c: Container) -> dict[str, Any]:
    """One container as JSON: every field, plus the isolating namespaces shared with the host."""
    d = c._asdict()
    d["pids"] = list(c.pids)
    d["shares_host"] = list(c.shares_host)
    return d


def _cpus(limit: float | None) -> str:
    return "-" if limit is None else f"{limit:g}"


def to_rows(cs: Sequence[Container], columns: Sequence[str]) -> list[list[str]]:
    rows = []
    for c in cs:
        cell = {
            "ID": c.short_id, "NAME": c.name, "RUNTIME": c.runtime,
            "POD": c.pod or "-", "NAMESPACE": c.k8s_namespace or "-",
            "PID": "" if c.pid is None else str(c.pid),
            "STATE": c.state + (" (infra)" if c.infra else ""),
            "CPUS": _cpus(c.cpu_limit), "HOSTNS": c.host_ns_label or "-",
            "IMAGE": c.image or c.rootfs or "-", "CGROUP": c.cgroup or "-",
        }
        rows.append([cell[col] for col in columns])
    return rows


def columns_for(cs: Sequence[Container]) -> tuple[str, ...]:
    """POD and NAMESPACE only when some container is in a Kubernetes pod."""
    kube = any(c.pod or c.k8s_namespace for c in cs)
    return tuple(col for col in COLUMNS if kube or col not in ("POD", "NAMESPACE"))


#: the options ``add_arguments`` declares, for the fast path (see nsscope.cli.ls);
#: --state-root is left to argparse
FAST_OPTIONS = {
    "--json": ("json", "store_true"),
    "-a": ("all", "store_true"), "--all": ("all", "store_true"),
    **replay.FAST_OPTIONS,
}
FAST_POSITIONALS: tuple[str, ...] = ()
FAST_DEFAULTS = {"state_root": None}


def add_arguments(p: argparse.ArgumentParser) -> None:
    import argparse

    p.add_argument("--json", action="store_true", help="JSON: every field of every container")
    p.add_argument("-a", "--all", action="store_true",
                   help="also pause/infra containers (Kubernetes pod sandboxes, podman infra) "
                        "and nsscope run's stopped containers")
    # a captured tree's runtime state (var/lib/docker, run/runc, var/log/pods …)
    p.add_argument("--state-root", metavar="DIR", help=argparse.SUPPRESS)
    replay.add_arguments(p)


def run(args: argparse.Namespace) -> int:
    roots = roots_of(args)
    if args.state_root:
        roots = roots._replace(state=StatePaths().under(args.state_root))
    # processes and containers only: recognition needs no namespace graph (a
    # process's own links say which namespaces it shares with the host) and no
    # cgroup tree (a container's limit is read from its own cgroups)
    snap = collect(roots, namespaces=False, cgroups=False)
    cs = select(snap.containers, args.all)
    # what could not be looked at is said, never passed over (issue 13): a name shown
    # as an id is one this user may not read, not a missing one
    notes = [] if roots.recording else [
        f"{n}: their containers show by id (run as root for their names)"
        for n in blind_spots(roots.state, discover(snap, roots.proc, roots.state).docker_roots)]
    if args.all and not roots.recording:
        from nsscope.host.containers.nsscope_runs import not_running
        try:
            cs += not_running(snap, roots.proc, roots.state)
        except PermissionError as e:
            notes.append(f"stopped nsscope containers are not listed: uid {os.geteuid()} may "
                         f"not read {e.filename} (run as root)")
    for note in notes:
        sys.stderr.write(safe(f"nsscope: note: {note}") + "\n")
    if args.json:
        import json
        json.dump({"containers": [record(c) for c in cs]}, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return 0
    columns = columns_for(cs)
    print(table.render(columns, to_rows(cs, columns), [COLUMNS[c] for c in columns]))
    return 0

"""``nsscope ps``: every container on the host, whatever made it, and the sandboxes.

Shaped the way ``docker ps`` and ``lsns`` are (issue 15): COMMAND, CREATED and STATUS
(``Up 3 minutes``, ``Exited (137) 2 minutes ago``); ``-a`` adds what is not running
(pause/infra containers, and the stopped containers of docker, podman and nsscope run,
from their own records: host/containers/exited.py);
``-q`` ids only; ``-o`` columns (``+COL`` adds); ``--filter KEY=VALUE``; ``--sort COL``;
``--no-trunc``.
Short ids by default, and a table that fits the terminal (120 columns when the output
is not one): the long cells are cut with "…".

The command line is read by hand on the fast path (nsscope.cli.parse_simple), so
nothing here may import argparse, re or json at the top (tests/unit/cli/
test_view_imports.py).
"""

from __future__ import annotations

import os
import sys
import time

from nsscope.host.collector import collect, roots_of
from nsscope.host.candidates import blind_spots
from nsscope.host.containers.state_paths import StatePaths, discover
from nsscope.host.model import Container, Snapshot
from nsscope.host.processes import boot_time, started_at
from nsscope.cli import replay, table
from nsscope.errors import BadInput
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
    "IMAGE": False, "COMMAND": False, "CREATED": False, "STATUS": False, "PID": True,
    "STATE": False, "CPUS": True, "HOSTNS": False, "CGROUP": False,
}
#: shown without -o (POD and NAMESPACE only when some container is in a pod)
DEFAULT = ("ID", "NAME", "RUNTIME", "POD", "NAMESPACE", "IMAGE", "COMMAND", "CREATED",
           "STATUS", "PID", "CPUS")
#: the columns whose cells are cut ("…") to make a line fit, and the narrowest each may
#: become; the rest (ID, RUNTIME, PID, CPUS, STATE) never are. With every default column
#: at its narrowest a line is 112 columns, so it always fits 120
SHRINK = {"NAME": 10, "POD": 8, "NAMESPACE": 9, "IMAGE": 8, "COMMAND": 10, "CREATED": 10,
          "STATUS": 14, "CGROUP": 10, "HOSTNS": 6}
#: the width a line fits when the output is not a terminal
WIDTH = 120

#: --filter keys -> how a container matches VALUE
FILTERS = ("id", "name", "runtime", "state", "pod", "namespace", "image")


# --- what a container shows ---------------------------------------------------------------

def human_duration(seconds: float) -> str:
    """docker's wording of a duration (go-units HumanDuration, used by ``docker ps``)."""
    s = int(seconds)
    if s < 1:
        return "Less than a second"
    if s == 1:
        return "1 second"
    if s < 60:
        return f"{s} seconds"
    minutes = s // 60
    if minutes == 1:
        return "About a minute"
    if minutes < 60:
        return f"{minutes} minutes"
    hours = int(seconds / 3600 + 0.5)
    if hours == 1:
        return "About an hour"
    if hours < 48:
        return f"{hours} hours"
    if hours < 24 * 7 * 2:
        return f"{hours // 24} days"
    if hours < 24 * 30 * 2:
        return f"{hours // 24 // 7} weeks"
    if hours < 24 * 365 * 2:
        return f"{hours // 24 // 30} months"
    return f"{hours // 24 // 365} years"


class Shown:
    """A container and what ``ps`` says of it beyond the model: its command, when it
    was made and started, and its status in docker's words."""

    __slots__ = ("c", "command", "created", "started", "status")

    def __init__(self, c: Container, snap: Snapshot, boot: float | None, now: float) -> None:
        self.c = c
        p = snap.processes.get(c.pid) if c.pid is not None else None
        self.command = p.command if p is not None else c.command
        self.started = started_at(p.starttime, boot) if p is not None and boot else None
        self.created = c.created if c.created is not None else self.started
        self.status = _status(c, self.started, now)


def _status(c: Container, started: float | None, now: float) -> str:
    if c.state in ("running", "paused"):
        up = f"Up {human_duration(now - started)}" if started is not None else "Up"
        return up + (" (Paused)" if c.state == "paused" else "")
    if c.state in ("exited", "stopped"):
        code = f" ({c.exit_code})" if c.exit_code is not None else ""
        ago = f" {human_duration(now - c.finished_at)} ago" if c.finished_at else ""
        return f"Exited{code}{ago}"
    return c.state.capitalize()


def _cpus(limit: float | None) -> str:
    return "-" if limit is None else f"{limit:g}"


def cells(s: Shown, now: float, no_trunc: bool = False) -> dict[str, str]:
    c = s.c
    return {
        "ID": c.id if no_trunc else c.short_id, "NAME": c.name, "RUNTIME": c.runtime,
        "POD": c.pod or "-", "NAMESPACE": c.k8s_namespace or "-",
        "IMAGE": c.image or c.rootfs or "-", "COMMAND": s.command or "-",
        "CREATED": f"{human_duration(now - s.created)} ago" if s.created else "-",
        "STATUS": s.status,
        "PID": "" if c.pid is None else str(c.pid),
        "STATE": c.state + (" (infra)" if c.infra else ""),
        "CPUS": _cpus(c.cpu_limit), "HOSTNS": c.host_ns_label or "-",
        "CGROUP": c.cgroup or "-",
    }


def record(c: Container, s: Shown | None = None) -> dict[str, Any]:
    """One container as JSON: every field, plus the isolating namespaces shared with the
    host, its command, and when it was made, started and ended (seconds since the epoch)."""
    d = c._asdict()
    d["pids"] = list(c.pids)
    d["shares_host"] = list(c.shares_host)
    if s is not None:
        d["command"] = s.command
        d["created"] = s.created
        d["started_at"] = s.started
        d["status"] = s.status
    d["finished_at"] = c.finished_at
    return d


# --- which, in what order -----------------------------------------------------------------

def select(containers: Sequence[Container], show_all: bool = False) -> list[Container]:
    """What ``ps`` lists: pause/infra containers only with ``-a``."""
    return [c for c in containers if show_all or not c.infra]


def parse_filters(given: Sequence[str] | None) -> dict[str, list[str]]:
    """``--filter KEY=VALUE`` (repeatable; ``KEY=V,KEY=V`` too), docker's rule: values
    of one key are alternatives, different keys must all match."""
    out: dict[str, list[str]] = {}
    for text in given or ():
        for item in text.split(","):
            key, eq, value = item.partition("=")
            key = key.strip().lower()
            if not eq or key not in FILTERS or not value:
                raise BadInput(f"bad --filter {item!r}: KEY=VALUE with KEY one of "
                               f"{', '.join(FILTERS)}")
            out.setdefault(key, []).append(value)
    return out


def _matches(c: Container, key: str, value: str) -> bool:
    if key == "id":
        return c.id.startswith(value)
    if key == "name":
        return value in c.name  # docker: a substring of the name
    if key == "state":
        # docker says exited where nsscope run's records say stopped
        return c.state == value or (value == "exited" and c.state == "stopped")
    field = {"runtime": c.runtime, "pod": c.pod, "namespace": c.k8s_namespace,
             "image": c.image}[key]
    return field == value


def apply_filters(cs: Sequence[Container], filters: dict[str, list[str]]) -> list[Container]:
    return [c for c in cs
            if all(any(_matches(c, k, v) for v in vs) for k, vs in filters.items())]


def parse_columns(spec: str | None, kube: bool) -> tuple[str, ...]:
    """``-o LIST`` replaces the columns, ``-o +LIST`` adds to the default (lsns's
    convention); POD and NAMESPACE are in the default only when a pod is listed."""
    default = tuple(c for c in DEFAULT if kube or c not in ("POD", "NAMESPACE"))
    if not spec:
        return default
    extra = spec.startswith("+")
    names = [n.strip().upper() for n in spec.lstrip("+").split(",") if n.strip()]
    unknown = [n for n in names if n not in COLUMNS]
    if unknown or not names:
        raise BadInput(f"unknown column {unknown[0] if unknown else spec!r}; columns: "
                       f"{', '.join(COLUMNS)}")
    return (*default, *(n for n in names if n not in default)) if extra else tuple(names)


def sort_rows(shown: list[Shown], column: str | None, now: float) -> list[Shown]:
    """By COLUMN (any of COLUMNS): numbers as numbers, CREATED and STATUS newest first
    (as docker ps lists), the rest as text; ties by name."""
    if column is None:
        return shown
    col = column.upper()
    if col not in COLUMNS:
        raise BadInput(f"unknown --sort column {column!r}; columns: {', '.join(COLUMNS)}")
    if col == "PID":
        return sorted(shown, key=lambda s: (s.c.pid is None, s.c.pid or 0, s.c.name))
    if col == "CPUS":
        return sorted(shown, key=lambda s: (s.c.cpu_limit is None, s.c.cpu_limit or 0.0,
                                            s.c.name))
    if col == "CREATED":
        return sorted(shown, key=lambda s: (-(s.created or 0.0), s.c.name))
    if col == "STATUS":
        return sorted(shown, key=lambda s: (-(s.started or s.c.finished_at or 0.0), s.c.name))
    return sorted(shown, key=lambda s: (cells(s, now)[col], s.c.name))


# --- the command line ---------------------------------------------------------------------

#: the options ``add_arguments`` declares, for the fast path (see nsscope.cli.ls);
#: --state-root is left to argparse
FAST_OPTIONS = {
    "--json": ("json", "store_true"), "-J": ("json", "store_true"),
    "-a": ("all", "store_true"), "--all": ("all", "store_true"),
    "-q": ("quiet", "store_true"), "--quiet": ("quiet", "store_true"),
    "-o": ("output", "store"), "--output": ("output", "store"),
    "-f": ("filter", "append"), "--filter": ("filter", "append"),
    "--sort": ("sort", "store"),
    "--no-trunc": ("no_trunc", "store_true"),
    **replay.FAST_OPTIONS,
}
FAST_POSITIONALS: tuple[str, ...] = ()
FAST_DEFAULTS = {"state_root": None}


def add_arguments(p: argparse.ArgumentParser) -> None:
    import argparse

    p.add_argument("-J", "--json", action="store_true",
                   help="JSON: every field of every container")
    p.add_argument("-a", "--all", action="store_true",
                   help="also what is not running: pause/infra containers (Kubernetes pod "
                        "sandboxes, podman infra), and the stopped containers of docker, "
                        "podman and nsscope run, with their exit codes")
    p.add_argument("-q", "--quiet", action="store_true", help="only the ids, one a line")
    p.add_argument("-o", "--output", metavar="LIST",
                   help="columns, comma-separated; +LIST adds to the default. Columns: "
                        + ", ".join(COLUMNS))
    p.add_argument("-f", "--filter", metavar="KEY=VALUE", action="append",
                   help="only containers whose KEY is VALUE (" + ", ".join(FILTERS)
                        + "; name: a part of the name, id: a prefix); repeatable, "
                          "values of one key are alternatives")
    p.add_argument("--sort", metavar="COL", help="sort by a column (CREATED, STATUS: newest "
                                                 "first)")
    p.add_argument("--no-trunc", action="store_true",
                   help="full ids, and no cell cut to fit the width")
    # a captured tree's runtime state (var/lib/docker, run/runc, var/log/pods …)
    p.add_argument("--state-root", metavar="DIR", help=argparse.SUPPRESS)
    replay.add_arguments(p)


def _stopped(snap: Snapshot, roots: Any, ctx: Any, notes: list[str]) -> list[Container]:
    """The containers of docker, podman and nsscope run that are not running (-a), from
    their own records (host/containers/exited.py)."""
    from nsscope.host.containers import exited
    from nsscope.host.containers.nsscope_runs import not_running
    from nsscope.host.containers.podman_state import graph_roots
    out = exited.docker(snap, ctx.docker_roots)
    out += exited.podman(snap, graph_roots(snap, roots.state), notes)
    try:
        out += not_running(snap, roots.proc, roots.state)
    except PermissionError as e:
        notes.append(f"stopped nsscope containers are not listed: uid {os.geteuid()} may "
                     f"not read {e.filename} (run as root)")
    return out


def run(args: argparse.Namespace) -> int:
    # every option is checked before the host is read
    filters = parse_filters(args.filter)
    roots = roots_of(args)
    if args.state_root:
        roots = roots._replace(state=StatePaths().under(args.state_root))
    # processes and containers only: recognition needs no namespace graph (a
    # process's own links say which namespaces it shares with the host) and no
    # cgroup tree (a container's limit is read from its own cgroups)
    snap = collect(roots, namespaces=False, cgroups=False)
    cs = select(snap.containers, args.all)
    # a recording's containers were named when recorded: no state to look at now
    ctx = None if roots.recording else discover(snap, roots.proc, roots.state)
    # what could not be looked at is said, never passed over (issue 13): a name shown
    # as an id is one this user may not read, not a missing one
    notes = [] if roots.recording else [
        f"{n}: their containers show by id (run as root for their names)"
        for n in blind_spots(roots.state, ctx.docker_roots)]  # type: ignore[union-attr]
    if args.all and not roots.recording:
        cs += _stopped(snap, roots, ctx, notes)
    for note in notes:
        sys.stderr.write(safe(f"nsscope: note: {note}") + "\n")
    cs = apply_filters(cs, filters)
    now = time.time()
    boot = boot_time(roots.proc)
    shown = [Shown(c, snap, boot, now) for c in cs]
    columns = parse_columns(args.output, any(c.pod or c.k8s_namespace for c in cs))
    shown = sort_rows(shown, args.sort, now)
    if args.json:
        import json
        json.dump({"containers": [record(s.c, s) for s in shown]}, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return 0
    if args.quiet:
        for s in shown:
            sys.stdout.write(safe(s.c.id if args.no_trunc else s.c.short_id) + "\n")
        return 0
    rows = [[cells(s, now, args.no_trunc)[col] for col in columns] for s in shown]
    right = [COLUMNS[c] for c in columns]
    if args.no_trunc:
        print(table.render(columns, rows, right, width=0))
        return 0
    width = table.terminal_columns() if sys.stdout.isatty() else WIDTH
    shrink = [SHRINK.get(c) for c in columns]
    print(table.render(columns, table.fit(columns, rows, shrink, width), right, width=width,
                       escaped=True))
    return 0

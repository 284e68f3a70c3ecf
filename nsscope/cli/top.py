"""``nsscope top``: which cgroups and containers are CPU-throttled, and by how much.

Each refresh reads every cgroup's CPU figures once (``cgroups.build`` over the
hierarchies that carry them: v1 cpu and cpuacct, and cgroup2 — on a hybrid
host for its PSI) and turns two readings into rates (``history.rates``).
Rows are sorted by throttled share: the share of CFS periods in which the
cgroup ran out of quota.

A limit on a pod or a slice throttles its children without a trace in their
own cpu.stat (CFS bandwidth is enforced on the cgroup that holds the quota;
sched-bwc.rst "Hierarchical considerations"), so a busy cgroup below a
throttled, limited ancestor is marked as throttled by that ancestor.

With ``--interval 0`` there is one reading and no rate: throttled share and
time are then since each cgroup was made (its cumulative counters).
"""

from __future__ import annotations

import os
import resource
import sys
import time

from nsscope.host.cpu_reader import CpuReader
from nsscope.host import cgroups, labels
from nsscope.host.collector import Roots, collect, roots_of
from nsscope.host.containers.state_paths import StatePaths
from nsscope.errors import BadInput
from nsscope.host.history import CpuRates, rates
from nsscope.host.model import Cgroup, Container, Hierarchy
from nsscope.cli import replay, table
from nsscope.records import Record

# a view on the fast path (nsscope.cli.FAST_VIEWS) imports neither argparse nor
# dataclasses, typing or json (~10 ms of start-up each with what they bring: re,
# inspect, enum …); json and the terminal modules only when used
TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse
    from collections.abc import Mapping
    from typing import Any

#: files whose figures top does not show (user/system split, weights): not read
SKIP = ("cpu.shares", "cpu.weight", "cpuacct.stat")
#: below this usage (% of a CPU, over the interval) a cgroup is idle, not throttled
ACTIVE_PCT = 0.5


class Row(Record):
    """One cgroup's line. ``rows`` builds it positionally (a thousand a refresh; by
    keyword a record costs a Python loop): a field added or moved here is added or
    moved there too, and tests/unit/cli/test_top.py gives every field its own value."""

    path: str
    #: the container whose cgroup this is (or an ancestor of it is), as ``nsscope ps``
    #: recognises it; JSON: labels.ref (name, id, runtime, pod, namespace)
    container: Container | None
    procs: int
    #: CPU used over the interval, % of one CPU
    usage_pct: float | None
    #: usage as a share of the cgroup's own limit, %
    usage_of_limit_pct: float | None
    #: the cgroup's own limit in CPUs (quota / period); None: unlimited
    limit_cpus: float | None
    #: its own throttled share: % of CFS periods throttled over the interval
    #: (with one reading: since the cgroup was made)
    throttled_pct: float | None
    #: throttled time over the interval, ms per second (one reading: None)
    throttled_ms_per_s: float | None
    nr_periods: int | None
    nr_throttled: int | None
    #: cumulative throttled time, µs (v1 throttled_time is ns, normalised by the reader)
    throttled_usec_total: int | None
    #: PSI cpu.pressure "some avg10", where the kernel has it for this cgroup
    psi_some_avg10: float | None
    #: the limited ancestor whose throttling holds this cgroup back, if any
    throttled_by: str | None = None
    throttled_by_limit_cpus: float | None = None
    throttled_by_pct: float | None = None
    #: the pid nsscope throttle moved into this cgroup (nsscope-throttle-PID), if so
    throttle_pid: int | None = None
    #: memory.current / memory.usage_in_bytes, and the limit (None: unlimited), bytes
    memory_bytes: int | None = None
    memory_max_bytes: int | None = None
    #: pids.current and pids.max (None: unlimited)
    pids_current: int | None = None
    pids_max: int | None = None
    #: bytes read from and written to block devices since the cgroup was made
    #: (io.stat rbytes/wbytes; v1 blkio.throttle.io_service_bytes), summed over devices
    io_read_bytes: int | None = None
    io_write_bytes: int | None = None

    @property
    def share(self) -> float:
        """The sort key: the throttled share that applies to it (its own or its ancestor's)."""
        own = self.throttled_pct or 0.0
        return max(own, self.throttled_by_pct or 0.0)


# --- reading ---------------------------------------------------------------------------------

def cpu_hierarchies(hs: tuple[Hierarchy, ...]) -> tuple[Hierarchy, ...]:
    """The hierarchies with CPU figures: v1 cpu and cpuacct, and cgroup2 (usage and PSI are
    in every cgroup2 directory, whatever its controllers)."""
    return tuple(h for h in hs if h.version == 2 or "cpu" in h.controllers
                 or "cpuacct" in h.controllers)


class Reading(Record):
    at: float
    cgroups: Mapping[str, Cgroup]


def read(reader: CpuReader) -> Reading:
    """One reading of every cgroup's CPU figures (the cost of one refresh)."""
    return Reading(at=time.monotonic(), cgroups=reader.read())


def raise_fd_limit() -> None:
    """Let the reader keep a descriptor per cgroup file open: the soft RLIMIT_NOFILE up to
    the hard one (getrlimit(2); what systemd does for its own services)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = hard if hard != resource.RLIM_INFINITY else 1 << 20
    if soft != resource.RLIM_INFINITY and soft < want:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
        except (ValueError, OSError):
            pass


def _cumulative_pct(cg: Cgroup) -> float | None:
    c = cg.cpu
    if c is None or c.nr_periods is None or c.nr_throttled is None:
        return None
    if not c.nr_periods:
        return 0.0 if c.quota_usec is not None else None
    return 100.0 * c.nr_throttled / c.nr_periods


def throttle_pid(path: str) -> int | None:
    """The pid of an ``nsscope throttle`` cgroup (actions/throttle/placement.py
    throttle_cgroup: /nsscope/throttle-PID at the top, NAME/nsscope-throttle-PID beneath
    the process's own cgroup)."""
    leaf = path.rsplit("/", 1)[-1]
    if path.startswith("/nsscope/throttle-") or leaf.startswith("nsscope-throttle-"):
        pid = leaf.rsplit("-", 1)[1]
        return int(pid) if pid.isdigit() else None
    return None


class Names:
    """Which container each cgroup belongs to, as ``nsscope ps`` recognises them (the
    snapshot's containers, labels.by_cgroup): any runtime, a runc container at
    ``/walk-runc`` too, not only the cgroup layouts a pattern knows.

    Recognising reads every process (~as much as ``nsscope ps``), so ``--watch`` does it
    again only when the set of cgroups changed (a container made or removed makes or
    removes its cgroup) or every ``refresh`` seconds (a rename), not every refresh; and,
    on a host whose cgroups churn, not more often than once per ``share``-fold its own
    last cost (10: recognition takes at most a tenth of the time; a new container is
    then named a little later).
    """

    def __init__(self, roots: Roots, refresh: float = 10.0, share: float = 10.0) -> None:
        self.roots = roots
        self.refresh = refresh
        self.share = share
        self.index: dict[str, Container] = {}
        self._paths: frozenset[str] | None = None
        self._due = 0.0
        self._allowed = 0.0
        #: how many times the containers were recognised (bench/bench_views.py reports it)
        self.recognised = 0

    def update(self, paths: frozenset[str]) -> dict[str, Container]:
        now = time.monotonic()
        if (paths != self._paths and now >= self._allowed) or now >= self._due:
            snap = collect(self.roots, namespaces=False, cgroups=False)
            self.index = labels.by_cgroup(snap.containers)
            done = time.monotonic()
            self._paths, self._due = paths, done + self.refresh
            self._allowed = done + self.share * (done - now)
            self.recognised += 1
        return self.index


def rows(after: Reading, before: Reading | None = None,
         containers: dict[str, Container] | None = None,
         order: str = "throttled") -> list[Row]:
    """The table: one row per cgroup with CPU figures, in ``order`` (SORTS; most
    throttled first by default). ``containers``: cgroup path -> container
    (labels.by_cgroup)."""
    dt = after.at - before.at if before is not None else 0.0
    index = containers or {}
    own: dict[str, tuple[CpuRates | None, float | None]] = {}
    for path, cg in after.cgroups.items():
        if cg.cpu is None:
            continue
        prev = before.cgroups.get(path) if before is not None else None
        r = rates(prev.cpu, cg.cpu, dt, after.at) if prev is not None and prev.cpu and dt > 0 \
            else None
        share = r.throttled_pct if r is not None else _cumulative_pct(cg)
        own[path] = (r, share)
    out = []
    for path, (r, share) in own.items():
        cg = after.cgroups[path]
        c = cg.cpu
        assert c is not None
        usage = r.usage_pct if r is not None else None
        active = (usage or 0.0) >= ACTIVE_PCT if r is not None else bool(c.usage_usec)
        by = by_pct = by_limit = None
        if active and not share:
            by, by_pct, by_limit = _throttling_ancestor(path, after, own)
        mem, pids, io = cg.memory, cg.pids, cg.io
        out.append(Row(  # positional, in Row's order (see Row)
            path,
            labels.owner(path, index) if index else None,  # container
            len(cg.procs),  # procs
            usage,  # usage_pct
            r.usage_of_limit_pct if r is not None else None,
            c.limit_cpus,
            share,  # throttled_pct
            r.throttled_ms if r is not None else None,  # throttled_ms_per_s
            c.nr_periods,
            c.nr_throttled,
            c.throttled_usec,  # throttled_usec_total
            c.pressure.some_avg10 if c.pressure else None,  # psi_some_avg10
            by,  # throttled_by
            by_limit,  # throttled_by_limit_cpus
            by_pct,  # throttled_by_pct
            throttle_pid(path),
            mem.current if mem else None,  # memory_bytes
            mem.max if mem else None,  # memory_max_bytes
            pids.current if pids else None,  # pids_current
            pids.max if pids else None,  # pids_max
            io.read_bytes if io else None,  # io_read_bytes
            io.write_bytes if io else None))  # io_write_bytes
    return sort(out, order)


#: --sort keys: each row's key, ascending (the largest figure first, then by path)
SORTS = ("throttled", "cpu", "mem", "name")


def _name(r: Row) -> str:
    return labels.name(r.container) if r.container is not None else r.path


def sort(rs: list[Row], by: str) -> list[Row]:
    """The rows by ``by`` (SORTS): throttled share (own or an ancestor's), CPU usage,
    memory, or the container's name (the cgroup path for the rest) ascending."""
    def key(r: Row) -> tuple:
        if by == "cpu":
            return (-(r.usage_pct or 0.0), -r.share, r.path)
        if by == "mem":
            return (-(r.memory_bytes or 0), r.path)
        if by == "name":
            return (r.container is None, _name(r), r.path)
        return (-r.share, -(r.usage_pct or 0.0), r.path)
    return sorted(rs, key=key)


def _throttling_ancestor(path: str, after: Reading,
                         own: Mapping[str, tuple[CpuRates | None, float | None]]
                         ) -> tuple[str | None, float | None, float | None]:
    """The nearest ancestor with a limit of its own that is being throttled."""
    p = path
    while p != "/":
        p = p.rsplit("/", 1)[0] or "/"
        cg = after.cgroups.get(p)
        if cg is None or cg.cpu is None or cg.cpu.quota_usec is None:
            continue
        share = own.get(p, (None, None))[1]
        if share:
            return p, share, cg.cpu.limit_cpus
    return None, None, None


# --- output ----------------------------------------------------------------------------------

HEADERS = ("THROTTLED", "USAGE", "OF-LIMIT", "LIMIT", "THR-TIME", "PSI10", "MEM", "PIDS", "IO",
           "PROCS", "CONTAINER", "CGROUP")
RIGHT = (True, True, True, True, True, True, True, True, True, True, False, False)


def _mem(r: Row) -> str:
    """``docker stats``' MEM USAGE / LIMIT: 12.5M/256M, 12.5M/max."""
    if r.memory_bytes is None:
        return "-"
    return f"{table.human_bytes(r.memory_bytes)}/{table.human_bytes(r.memory_max_bytes)}"


def _pids(r: Row) -> str:
    if r.pids_current is None:
        return "-"
    return f"{r.pids_current}/{'max' if r.pids_max is None else r.pids_max}"


def _io(r: Row) -> str:
    """``docker stats``' BLOCK I/O: read/written since the cgroup was made."""
    if r.io_read_bytes is None:
        return "-"
    return f"{table.human_bytes(r.io_read_bytes)}/{table.human_bytes(r.io_write_bytes)}"


def _who(r: Row) -> str:
    if r.container is not None:
        return labels.title(r.container)
    if r.throttle_pid is not None:
        return f"nsscope throttle of pid {r.throttle_pid}"
    return ""


def _pct(v: float | None) -> str:
    return "-" if v is None else f"{v:.1f}%"


def table_rows(rs: list[Row], interval: bool) -> list[list[str]]:
    out = []
    for r in rs:
        if r.throttled_by is not None:
            thr = f"↑{_pct(r.throttled_by_pct)}"
            where = (f"{r.path}  (throttled by ancestor {r.throttled_by}, limit "
                     f"{r.throttled_by_limit_cpus:.2f})")
        else:
            thr, where = _pct(r.throttled_pct), r.path
        if interval:
            ttime = "-" if r.throttled_ms_per_s is None else f"{r.throttled_ms_per_s:.0f}ms/s"
        else:
            ttime = table.human_usec(r.throttled_usec_total)
        out.append([thr, _pct(r.usage_pct), _pct(r.usage_of_limit_pct),
                    "max" if r.limit_cpus is None else f"{r.limit_cpus:.2f}", ttime,
                    "-" if r.psi_some_avg10 is None else f"{r.psi_some_avg10:.2f}",
                    _mem(r), _pids(r), _io(r), str(r.procs), _who(r), where])
    return out


def to_json(rs: list[Row], interval: float, mode: str) -> dict[str, Any]:
    def record(r: Row) -> dict[str, Any]:
        d = {**r._asdict(), "share": r.share}
        d["container"] = labels.ref(r.container) if r.container is not None else None
        return d
    return {"mode": mode, "interval": interval, "cgroups": [record(r) for r in rs]}


# --- command line ---------------------------------------------------------------------------

#: the command line read without argparse (nsscope.cli.FAST_VIEWS); add_arguments below
#: is the oracle (tests/unit/cli/test_fast_parse.py)
FAST_OPTIONS = {
    "--watch": ("watch", "store_true"),
    "-J": ("json", "store_true"), "--json": ("json", "store_true"),
    "--interval": ("interval", "float"), "--count": ("count", "int"),
    "--throttled": ("throttled", "store_true"), "--sort": ("sort", "store", SORTS),
    "--state-root": ("state_root", "store"),
    **replay.FAST_OPTIONS,
}
FAST_POSITIONALS: tuple[str, ...] = ()
FAST_DEFAULTS = {"interval": 1.0, "sort": "throttled"}


def add_arguments(p: argparse.ArgumentParser) -> None:
    import argparse

    p.add_argument("--watch", action="store_true",
                   help="refresh every --interval seconds; q (or Ctrl-C) quits")
    p.add_argument("-J", "--json", action="store_true", help="one JSON document (no --watch)")
    p.add_argument("--interval", type=float, default=1.0, metavar="SECONDS",
                   help="seconds between the two readings that make the rates (default 1); "
                        "0: one reading, throttling since each cgroup was made")
    p.add_argument("--count", type=int, metavar="N", help="with --watch: stop after N refreshes")
    p.add_argument("--throttled", action="store_true",
                   help="only cgroups throttled (by their own limit or an ancestor's)")
    p.add_argument("--sort", choices=SORTS, default="throttled",
                   help="throttled share (default), CPU usage, memory, or container name")
    # a captured tree's runtime state (as ps --state-root), for the containers' names
    p.add_argument("--state-root", metavar="DIR", help=argparse.SUPPRESS)
    replay.add_arguments(p)


def run(args: argparse.Namespace) -> int:
    if args.json and args.watch:
        raise BadInput("--json is one-shot: use it without --watch")
    if not 0 <= args.interval < 1e9 or (args.watch and args.interval < 0.1):
        # `not 0 <= x`: nan and inf too (float() takes them; sleep would not)
        raise BadInput("--interval must be a number of seconds: at least 0.1 with --watch, "
                       "and not negative")
    if args.count is not None and args.count < 1:
        raise BadInput("--count must be at least 1")
    if args.from_file is not None:
        return _recorded(args)
    roots = roots_of(args)
    if args.state_root:
        roots = roots._replace(state=StatePaths().under(args.state_root))
    raise_fd_limit()
    every = cgroups.hierarchies(roots.cgroup, roots.proc)
    hs = cpu_hierarchies(every)
    mode = cgroups.detect_mode(roots.cgroup, roots.proc)
    names = Names(roots)
    with CpuReader(hs + tuple(h for h in every if h not in hs), skip=SKIP, memory=True,
                   pids=True, io=True) as reader:
        if args.watch:
            return _watch(args, reader, names)
        first = read(reader)
        # the containers are recognised between the two readings: their cost (a
        # read of every process, as `ps`) is spent inside the interval, not after it
        index = names.update(frozenset(first.cgroups))
        if args.interval > 0:
            time.sleep(max(0.0, first.at + args.interval - time.monotonic()))
            rs = rows(read(reader), first, index, args.sort)
        else:
            rs = rows(first, None, index, args.sort)
    rs = _only(rs, args)
    if args.json:
        import json
        json.dump(to_json(rs, args.interval, mode), sys.stdout, indent=2)
        sys.stdout.write("\n")
        return 0
    print(table.render(HEADERS, table_rows(rs, args.interval > 0), RIGHT))
    return 0


def _recorded(args: argparse.Namespace) -> int:
    """``top --from FILE [--at TIME]``: the rates between the recorded sample TIME names
    and the one before it (``rows``, as live); the first sample has no rate (as
    ``--interval 0``). Containers are named from the recording's own (host/labels)."""
    from nsscope.host import labels
    from nsscope.host.recording.reader import open_recording

    if args.watch:
        raise BadInput("--watch shows the host as it goes: not with --from")
    r = open_recording(args.from_file)
    i = r.index_at(args.at)
    after = r.snapshot(i)
    before = r.snapshot(i - 1) if i > 0 else None
    rs = rows(Reading(after.uptime, after.cgroups),
              Reading(before.uptime, before.cgroups) if before is not None else None,
              labels.by_cgroup(after.containers), args.sort)
    rs = _only(rs, args)
    interval = after.uptime - before.uptime if before is not None else 0.0
    if args.json:
        import json
        json.dump(to_json(rs, interval, after.cgroup_mode), sys.stdout, indent=2)
        sys.stdout.write("\n")
        return 0
    print(table.render(HEADERS, table_rows(rs, before is not None), RIGHT))
    return 0


def _only(rs: list[Row], args: argparse.Namespace) -> list[Row]:
    return [r for r in rs if r.share > 0] if args.throttled else rs


def _watch(args: argparse.Namespace, reader: CpuReader, names: Names) -> int:
    import termios
    import tty

    tty_out = sys.stdout.isatty()
    keys = tty_out and sys.stdin.isatty()
    old = termios.tcgetattr(sys.stdin.fileno()) if keys else None
    try:
        if keys:
            # q quits, as in throttle --watch and the TUI: keys unbuffered and not echoed
            # (cbreak); the terminal's modes are put back however the loop ends
            tty.setcbreak(sys.stdin.fileno())
        return _loop(args, reader, names, tty_out, keys)
    except KeyboardInterrupt:
        return 0
    finally:
        if old is not None:
            termios.tcsetattr(sys.stdin.fileno(), termios.TCSADRAIN, old)


def _quit_asked(timeout: float) -> bool:
    """Wait up to ``timeout`` seconds for a key; True when it was q (or stdin closed)."""
    import select

    end = time.monotonic() + timeout
    while True:
        left = end - time.monotonic()
        if left <= 0:
            return False
        ready, _, _ = select.select([sys.stdin], [], [], left)
        if ready:
            data = os.read(sys.stdin.fileno(), 64)
            if not data or b"q" in data or b"Q" in data:
                return True


def _loop(args: argparse.Namespace, reader: CpuReader, names: Names, tty_out: bool,
          keys: bool) -> int:
    import gc

    prev = read(reader)
    names.update(frozenset(prev.cgroups))
    # what exists now (the modules, the reader's descriptors and plans, the names) lives
    # as long as the loop: the cycle collector is told not to walk it again at each of
    # its passes (gc.freeze, as the TUI does). A refresh makes and drops a reading of
    # every cgroup; walking what lasts with it was a fifth of a refresh at 1,000 cgroups
    gc.freeze()
    due = prev.at + args.interval
    n = 0
    while args.count is None or n < args.count:
        wait = max(0.0, due - time.monotonic())
        if keys:
            if _quit_asked(wait):
                return 0
        else:
            time.sleep(wait)
        due += args.interval
        cur = read(reader)
        rs = _only(rows(cur, prev, names.update(frozenset(cur.cgroups)), args.sort), args)
        prev = cur
        n += 1
        text = table.render(HEADERS, table_rows(rs, True), RIGHT)
        stamp = time.strftime("%H:%M:%S")
        if tty_out:
            lines = table.terminal_lines()
            shown = text.split("\n")[: max(2, lines - 2)]
            sys.stdout.write(f"\x1b[H\x1b[2Jnsscope top  {stamp}  {len(rs)} cgroups, "
                             f"sorted by {args.sort} (q quits)\n"
                             + "\n".join(shown) + "\n")
        else:
            sys.stdout.write(f"# {stamp}\n{text}\n\n")
        sys.stdout.flush()
    return 0


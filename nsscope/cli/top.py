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

import argparse
import contextlib
import functools
import json
import resource
import shutil
import sys
import time
from dataclasses import asdict, dataclass
from collections.abc import Mapping
from typing import Any

from nsscope.host.cpu_reader import CpuReader
from nsscope.host import cgroups
from nsscope.host.collector import roots_of
from nsscope.errors import BadInput
from nsscope.host.history import CpuRates, rates
from nsscope.host.model import Cgroup, Hierarchy
from nsscope.cli import replay, table

#: files whose figures top does not show (user/system split, weights): not read
SKIP = ("cpu.shares", "cpu.weight", "cpuacct.stat")
#: below this usage (% of a CPU, over the interval) a cgroup is idle, not throttled
ACTIVE_PCT = 0.5


@dataclass(frozen=True)
class Row:
    path: str
    #: the container whose cgroup this is ("docker 4f1c2a9e8b7d"), when recognised
    container: str | None
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


@dataclass(frozen=True)
class Reading:
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
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))


def _cumulative_pct(cg: Cgroup) -> float | None:
    c = cg.cpu
    if c is None or c.nr_periods is None or c.nr_throttled is None:
        return None
    if not c.nr_periods:
        return 0.0 if c.quota_usec is not None else None
    return 100.0 * c.nr_throttled / c.nr_periods


def _labels(paths) -> dict[str, str]:
    """Container labels from the cgroup paths alone (cheap enough for every refresh)."""
    out = {}
    for path in paths:
        label = _label(path)
        if label is not None:
            out[path] = label
    return out


@functools.lru_cache(maxsize=1 << 16)
def _label(path: str) -> str | None:
    if path.startswith("/nsscope/throttle-") or \
            path.rsplit("/", 1)[-1].startswith("nsscope-throttle-"):
        # actions/throttle/placement.py throttle_cgroup: at the top, or beneath the
        # process's own cgroup
        return f"nsscope throttle of pid {path.rsplit('-', 1)[1]}"
    from nsscope.host import containers  # regular expressions: only when a label is asked
    m = containers.match_cgroup(path)
    if m is not None and m.path == path:
        return f"{m.runtime} {m.key[:12]}"
    return None


def rows(after: Reading, before: Reading | None = None) -> list[Row]:
    """The table: one row per cgroup with CPU figures, most throttled first."""
    dt = after.at - before.at if before is not None else 0.0
    labels = _labels(after.cgroups)
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
        out.append(Row(
            path=path, container=labels.get(path), procs=len(cg.procs), usage_pct=usage,
            usage_of_limit_pct=r.usage_of_limit_pct if r is not None else None,
            limit_cpus=c.limit_cpus, throttled_pct=share,
            throttled_ms_per_s=r.throttled_ms if r is not None else None,
            nr_periods=c.nr_periods, nr_throttled=c.nr_throttled,
            throttled_usec_total=c.throttled_usec,
            psi_some_avg10=c.pressure.some_avg10 if c.pressure else None,
            throttled_by=by, throttled_by_limit_cpus=by_limit, throttled_by_pct=by_pct))
    out.sort(key=lambda r: (-r.share, -(r.usage_pct or 0.0), r.path))
    return out


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

HEADERS = ("THROTTLED", "USAGE", "OF-LIMIT", "LIMIT", "THR-TIME", "PSI10", "PROCS", "CONTAINER",
           "CGROUP")
RIGHT = (True, True, True, True, True, True, True, False, False)


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
                    str(r.procs), r.container or "", where])
    return out


def to_json(rs: list[Row], interval: float, mode: str) -> dict[str, Any]:
    return {"mode": mode, "interval": interval,
            "cgroups": [{**asdict(r), "share": r.share} for r in rs]}


# --- command line ---------------------------------------------------------------------------

def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--watch", action="store_true", help="refresh every --interval seconds")
    p.add_argument("--json", action="store_true", help="one JSON document (no --watch)")
    p.add_argument("--interval", type=float, default=1.0, metavar="SECONDS",
                   help="seconds between the two readings that make the rates (default 1); "
                        "0: one reading, throttling since each cgroup was made")
    p.add_argument("--count", type=int, metavar="N", help="with --watch: stop after N refreshes")
    p.add_argument("--throttled", action="store_true",
                   help="only cgroups throttled (by their own limit or an ancestor's)")
    replay.add_arguments(p)


def run(args: argparse.Namespace) -> int:
    if args.json and args.watch:
        raise BadInput("--json is one-shot: use it without --watch")
    if args.interval < 0 or (args.watch and args.interval < 0.1):
        raise BadInput("--interval must be at least 0.1 s with --watch, and not negative")
    if args.count is not None and args.count < 1:
        raise BadInput("--count must be at least 1")
    if args.from_file is not None:
        return _recorded(args)
    roots = roots_of(args)
    raise_fd_limit()
    hs = cpu_hierarchies(cgroups.hierarchies(roots.cgroup, roots.proc))
    mode = cgroups.detect_mode(roots.cgroup, roots.proc)
    with CpuReader(hs, skip=SKIP) as reader:
        if args.watch:
            return _watch(args, reader)
        first = read(reader)
        if args.interval > 0:
            time.sleep(args.interval)
            rs = rows(read(reader), first)
        else:
            rs = rows(first)
    rs = _only(rs, args)
    if args.json:
        json.dump(to_json(rs, args.interval, mode), sys.stdout, indent=2)
        sys.stdout.write("\n")
        return 0
    print(table.render(HEADERS, table_rows(rs, args.interval > 0), RIGHT))
    return 0


def _recorded(args: argparse.Namespace) -> int:
    """``top --from FILE [--at TIME]``: the rates between the recorded sample TIME names
    and the one before it (``rows``, as live); the first sample has no rate (as
    ``--interval 0``). Containers are named from the recording's own (host/labels)."""
    from dataclasses import replace

    from nsscope.host import labels
    from nsscope.host.recording.reader import open_recording

    if args.watch:
        raise BadInput("--watch shows the host as it goes: not with --from")
    r = open_recording(args.from_file)
    i = r.index_at(args.at)
    after = r.snapshot(i)
    before = r.snapshot(i - 1) if i > 0 else None
    rs = rows(Reading(after.uptime, after.cgroups),
              Reading(before.uptime, before.cgroups) if before is not None else None)
    index = labels.by_cgroup(after.containers)
    named = []
    for row in rs:
        c = labels.owner(row.path, index)
        named.append(row if c is None else replace(row, container=labels.title(c)))
    rs = _only(named, args)
    interval = after.uptime - before.uptime if before is not None else 0.0
    if args.json:
        json.dump(to_json(rs, interval, after.cgroup_mode), sys.stdout, indent=2)
        sys.stdout.write("\n")
        return 0
    print(table.render(HEADERS, table_rows(rs, before is not None), RIGHT))
    return 0


def _only(rs: list[Row], args: argparse.Namespace) -> list[Row]:
    return [r for r in rs if r.share > 0] if args.throttled else rs


def _watch(args: argparse.Namespace, reader: CpuReader) -> int:
    tty = sys.stdout.isatty()
    prev = read(reader)
    due = prev.at + args.interval
    n = 0
    try:
        while args.count is None or n < args.count:
            time.sleep(max(0.0, due - time.monotonic()))
            due += args.interval
            cur = read(reader)
            rs = _only(rows(cur, prev), args)
            prev = cur
            n += 1
            text = table.render(HEADERS, table_rows(rs, True), RIGHT)
            stamp = time.strftime("%H:%M:%S")
            if tty:
                lines = shutil.get_terminal_size().lines
                shown = text.split("\n")[: max(2, lines - 2)]
                sys.stdout.write(f"\x1b[H\x1b[2Jnsscope top  {stamp}  {len(rs)} cgroups, "
                                 f"sorted by throttled share (Ctrl-C quits)\n"
                                 + "\n".join(shown) + "\n")
            else:
                sys.stdout.write(f"# {stamp}\n{text}\n\n")
            sys.stdout.flush()
    except KeyboardInterrupt:
        pass
    return 0


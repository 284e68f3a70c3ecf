"""CPU rates of cgroups over time: usage %, throttled % of periods, throttled time, PSI.

Every CPU figure a cgroup exposes is a counter that only grows (cpu.stat
``usage_usec``, ``nr_periods``, ``nr_throttled``, ``throttled_usec``, the PSI
``total=``), so a rate needs two samples: ``rates()`` turns a pair of
``CpuStats`` into one ``CpuRates``, and ``History`` keeps the last few minutes
of them per cgroup path, for plots and for sorting by throttling.

Pure computation: no file is read here (the collector did that), no UI.
References: Documentation/scheduler/sched-bwc.rst (CFS bandwidth, nr_periods,
nr_throttled, throttled_time), Documentation/accounting/psi.rst (total= in µs).
"""

from __future__ import annotations

from nsscope.host.model import CpuStats, Pressure, Snapshot
from nsscope.records import Record

# `nsscope top` imports this module for rates() alone, on the views' fast path:
# threading and collections (~4 ms) are imported by History, which it does not use
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections import deque
    from collections.abc import Iterable, Mapping


class CpuRates(Record):
    """What a cgroup did with the CPU between two samples; each figure None when unknown.
    ``rates`` builds it positionally (one per cgroup per refresh): keep the order there."""

    #: seconds since boot at the later sample
    at: float
    #: CPU time used per wall second, in % of one CPU (100 = one core busy), as top shows it
    usage_pct: float | None = None
    #: the CFS quota in % of one CPU (quota / period); None when unlimited
    limit_pct: float | None = None
    #: share of the elapsed CFS periods in which the cgroup ran out of quota, %
    throttled_pct: float | None = None
    #: time spent throttled per wall second, in ms. The kernel adds up the
    #: throttled time of each CPU's runqueue (kernel/sched/fair.c,
    #: unthrottle_cfs_rq), so on N CPUs this can exceed 1000.
    throttled_ms: float | None = None
    #: PSI cpu "some": share of wall time in which a runnable task waited, %
    #: (from the µs counter total=, exact over the interval, unlike avg10)
    pressure_some_pct: float | None = None
    #: PSI cpu "full" (cgroups only; always 0 at the host level before 5.13)
    pressure_full_pct: float | None = None

    @property
    def usage_of_limit_pct(self) -> float | None:
        """Usage as a share of the quota, % (100 = using all it may)."""
        if self.usage_pct is None or not self.limit_pct:
            return None
        return 100.0 * self.usage_pct / self.limit_pct


def _delta(new: int | None, old: int | None) -> int | None:
    """new - old for a counter; None when either is unknown or it went backwards
    (the cgroup was removed and made again under the same path)."""
    if new is None or old is None or new < old:
        return None
    return new - old


def _pressure_pct(new: Pressure | None, old: Pressure | None, dt: float,
                  full: bool = False) -> float | None:
    if new is None or old is None:
        return None
    if full:
        d = _delta(new.full_total, old.full_total)
    else:
        d = _delta(new.some_total, old.some_total)
    if d is None:
        return None
    # total= is in µs (Documentation/accounting/psi.rst)
    return min(100.0, 100.0 * d / 1e6 / dt)


def rates(old: CpuStats, new: CpuStats, dt: float, at: float) -> CpuRates:
    """The rates between two samples of one cgroup taken ``dt`` seconds apart."""
    if dt <= 0:
        return CpuRates(at=at, limit_pct=_limit_pct(new))
    usage = _delta(new.usage_usec, old.usage_usec)
    periods = _delta(new.nr_periods, old.nr_periods)
    throttled = _delta(new.nr_throttled, old.nr_throttled)
    throttled_time = _delta(new.throttled_usec, old.throttled_usec)
    limit = _limit_pct(new)
    if periods is None or throttled is None:
        throttled_pct = None
    elif periods:
        throttled_pct = min(100.0, 100.0 * throttled / periods)
    else:
        # the period timer only runs while the cgroup has runnable tasks
        # (sched-bwc.rst): no period elapsed means nothing wanted the CPU
        throttled_pct = 0.0 if limit is not None else None
    return CpuRates(  # positional, in CpuRates' order
        at,
        None if usage is None else 100.0 * usage / 1e6 / dt,  # usage_pct
        limit,  # limit_pct
        throttled_pct,
        None if throttled_time is None else throttled_time / 1e3 / dt,  # throttled_ms
        _pressure_pct(new.pressure, old.pressure, dt),  # pressure_some_pct
        _pressure_pct(new.pressure, old.pressure, dt, full=True))  # pressure_full_pct


def _limit_pct(cpu: CpuStats) -> float | None:
    limit = cpu.limit_cpus
    return None if limit is None else 100.0 * limit


def _cpu_of(snap: Snapshot, path: str) -> CpuStats | None:
    cg = snap.cgroups.get(path)
    if cg is None or cg.cpu is None:
        return None
    cpu = cg.cpu
    if path == "/" and cpu.pressure is None and snap.cpu_pressure is not None:
        # the root cgroup has no cpu.pressure on v1 (and before 5.x on v2);
        # /proc/pressure/cpu is the same figure for the whole host
        return _with_pressure(cpu, snap.cpu_pressure)
    return cpu


def _with_pressure(cpu: CpuStats, pressure: Pressure) -> CpuStats:
    return CpuStats(usage_usec=cpu.usage_usec, user_usec=cpu.user_usec,
                    system_usec=cpu.system_usec, nr_periods=cpu.nr_periods,
                    nr_throttled=cpu.nr_throttled, throttled_usec=cpu.throttled_usec,
                    quota_usec=cpu.quota_usec, period_usec=cpu.period_usec, weight=cpu.weight,
                    shares=cpu.shares, pressure=pressure)


def snapshot_rates(old: Snapshot, new: Snapshot) -> dict[str, CpuRates]:
    """Rates of every cgroup present, with CPU figures, in both snapshots."""
    dt = new.uptime - old.uptime
    out: dict[str, CpuRates] = {}
    for path in new.cgroups:
        cur = _cpu_of(new, path)
        prev = _cpu_of(old, path)
        if cur is None or prev is None:
            continue
        out[path] = rates(prev, cur, dt, new.uptime)
    return out


class History:
    """The last ``span`` seconds of ``CpuRates`` per cgroup path (ring buffers).

    One thread may add while another reads (the TUI's collector thread adds,
    its UI thread reads): a lock guards the buffers, held for a copy at most.
    """

    def __init__(self, span: float = 300.0, max_samples: int = 600) -> None:
        import threading
        from collections import deque

        self._deque = deque
        self.span = span
        self.max_samples = max_samples
        self._series: dict[str, deque[CpuRates]] = {}
        self._lock = threading.Lock()
        self.last_at: float | None = None

    def add(self, samples: Mapping[str, CpuRates]) -> None:
        """Append one round of samples; forget paths not seen for ``span`` seconds."""
        with self._lock:
            self._add(samples)

    def replace(self, rounds: Iterable[Mapping[str, CpuRates]]) -> None:
        """Forget everything and hold these rounds instead, oldest first (a replay moved
        its time cursor: the plots show the recorded history up to it)."""
        with self._lock:
            self._series.clear()
            self.last_at = None
            for samples in rounds:
                self._add(samples)

    def _add(self, samples: Mapping[str, CpuRates]) -> None:
        at = None
        for path, r in samples.items():
            ring = self._series.get(path)
            if ring is None:
                ring = self._series[path] = self._deque(maxlen=self.max_samples)
            elif ring and r.at <= ring[-1].at:
                continue  # the same sample twice, or out of order
            ring.append(r)
            at = r.at if at is None else max(at, r.at)
        if at is None:
            return
        self.last_at = at
        horizon = at - self.span
        for path in list(self._series):
            ring = self._series[path]
            while ring and ring[0].at < horizon:
                ring.popleft()
            if not ring:
                del self._series[path]

    def series(self, path: str) -> tuple[CpuRates, ...]:
        """The samples of one cgroup, oldest first (empty when unknown)."""
        with self._lock:
            ring = self._series.get(path)
            return tuple(ring) if ring else ()

    def latest(self, path: str) -> CpuRates | None:
        with self._lock:
            ring = self._series.get(path)
            return ring[-1] if ring else None

    def paths(self) -> list[str]:
        with self._lock:
            return list(self._series)

    def __len__(self) -> int:
        return len(self._series)

"""nsscope.host.history: rates from pairs of cgroup counters, and the per-cgroup ring buffers."""

from __future__ import annotations

import pytest

from nsscope.host import collector
from nsscope.host.history import CpuRates, History, rates, snapshot_rates
from nsscope.host.model import CpuStats, Pressure

from support import V2_FIXTURE


def test_rates_of_a_throttled_cgroup():
    # one busy thread against a 20 % quota, one second apart (sched-bwc.rst)
    old = CpuStats(usage_usec=1_000_000, nr_periods=100, nr_throttled=90, throttled_usec=5_000,
                   quota_usec=20_000, period_usec=100_000,
                   pressure=Pressure(1.0, 1.0, 1.0, some_total=10_000_000, full_avg10=0.0,
                                     full_total=9_000_000))
    new = CpuStats(usage_usec=1_200_000, nr_periods=110, nr_throttled=100,
                   throttled_usec=805_000, quota_usec=20_000, period_usec=100_000,
                   pressure=Pressure(1.0, 1.0, 1.0, some_total=10_800_000, full_avg10=0.0,
                                     full_total=9_700_000))
    r = rates(old, new, 1.0, at=42.0)
    assert r.at == 42.0
    assert r.usage_pct == pytest.approx(20.0)
    assert r.limit_pct == pytest.approx(20.0)
    assert r.usage_of_limit_pct == pytest.approx(100.0)
    assert r.throttled_pct == pytest.approx(100.0)
    assert r.throttled_ms == pytest.approx(800.0)
    assert r.pressure_some_pct == pytest.approx(80.0)
    assert r.pressure_full_pct == pytest.approx(70.0)


def test_rates_without_limit_or_activity():
    a = CpuStats(usage_usec=500, nr_periods=0, nr_throttled=0, throttled_usec=0)
    r = rates(a, a, 2.0, at=1.0)
    assert r.usage_pct == 0.0
    assert r.limit_pct is None
    # no quota: no period ever elapses, "throttled" has no meaning
    assert r.throttled_pct is None
    limited = CpuStats(usage_usec=500, nr_periods=7, nr_throttled=3, throttled_usec=0,
                       quota_usec=50_000, period_usec=100_000)
    # limited but idle: the period timer did not run, nothing was throttled
    assert rates(limited, limited, 1.0, at=1.0).throttled_pct == 0.0


def test_counters_going_backwards_give_no_rate():
    # a cgroup removed and made again under the same path restarts its counters
    old = CpuStats(usage_usec=9_000_000, nr_periods=50, nr_throttled=5, throttled_usec=100)
    new = CpuStats(usage_usec=1_000, nr_periods=1, nr_throttled=0, throttled_usec=0)
    r = rates(old, new, 1.0, at=1.0)
    assert r.usage_pct is None and r.throttled_pct is None and r.throttled_ms is None


def test_history_keeps_span_and_forgets_gone_cgroups():
    h = History(span=10.0)
    for t in range(30):
        samples = {"/a": CpuRates(at=float(t), usage_pct=float(t))}
        if t < 5:
            samples["/gone"] = CpuRates(at=float(t), usage_pct=1.0)
        h.add(samples)
    series = h.series("/a")
    assert [r.at for r in series] == [float(t) for t in range(19, 30)]
    assert h.latest("/a").usage_pct == 29.0
    assert h.series("/gone") == ()
    assert h.paths() == ["/a"]
    # the same sample twice is kept once
    h.add({"/a": CpuRates(at=29.0, usage_pct=0.0)})
    assert h.latest("/a").usage_pct == 29.0


def test_snapshot_rates_on_the_v2_capture():
    roots = collector.Roots(proc=str(V2_FIXTURE / "proc"),
                            cgroup=str(V2_FIXTURE / "sys/fs/cgroup"))
    snap = collector.collect(roots, fds=False)
    later = snap._replace(uptime=snap.uptime + 2.0)
    r = snapshot_rates(snap, later)
    # every cgroup with cpu figures, nothing moved in "two seconds"
    assert set(r) == {p for p, cg in snap.cgroups.items() if cg.cpu is not None}
    docker = next(p for p in r if "docker-" in p)
    assert r[docker].usage_pct == 0.0
    assert r[docker].limit_pct == pytest.approx(20.0)  # cpu.max 20000 100000 in the capture
    assert r[docker].throttled_pct == 0.0

"""The container families cAdvisor exports (and the kubelet serves at /metrics/cadvisor),
with the same names, types, units, labels and conditions.

Each family below cites what it follows in cAdvisor's lib/metrics/prometheus.go
(NewPrometheusCollector, collectContainersInfo) and where cAdvisor reads the figure
(lib/container/libcontainer/handler.go setCPUStats/setMemoryStats,
lib/container/common/helpers.go getSpecInternal). The figures come from the
container's cgroup path (the ``id`` label) in every hierarchy it exists in, as
cAdvisor reads ``<controller mount>/<name>``: on a v1 host a container whose path
is absent from the memory hierarchy has no memory series, as in cAdvisor.

Differences, on purpose: no sample timestamps (cAdvisor stamps each with its last
housekeeping; Prometheus' staleness handling wants none, and every figure here is
read during the scrape); ``container_cpu_usage_seconds_total`` always with
``cpu="total"`` (the kubelet's cAdvisor runs without per-CPU usage, and cgroup v2
has none); ``container_processes`` counts every process of the container, nested
cgroups included (cAdvisor counts its cgroup's own cgroup.procs).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from prometheus_client.core import Metric

from nsscope.host.model import CpuStats, MemoryStats
from nsscope.serve import labels
from nsscope.serve.families import Families, distinct
from nsscope.serve.scrape import Scrape, measured

#: (name, type, help): cAdvisor's help texts, word for word. Every sample has the labels of
#: labels.NAMES; container_cpu_usage_seconds_total also cpu="total"
FAMILIES: tuple[tuple[str, str, str], ...] = (
    ("container_last_seen", "gauge", "Last time a container was seen by the exporter"),
    ("container_cpu_user_seconds_total", "counter",
     "Cumulative user cpu time consumed in seconds."),
    ("container_cpu_system_seconds_total", "counter",
     "Cumulative system cpu time consumed in seconds."),
    ("container_cpu_usage_seconds_total", "counter",
     "Cumulative cpu time consumed in seconds."),
    ("container_cpu_cfs_periods_total", "counter",
     "Number of elapsed enforcement period intervals."),
    ("container_cpu_cfs_throttled_periods_total", "counter",
     "Number of throttled period intervals."),
    ("container_cpu_cfs_throttled_seconds_total", "counter",
     "Total time duration the container has been throttled."),
    ("container_memory_usage_bytes", "gauge",
     "Current memory usage in bytes, including all memory regardless of when it was "
     "accessed"),
    ("container_memory_working_set_bytes", "gauge", "Current working set in bytes."),
    ("container_processes", "gauge", "Number of processes running inside the container."),
    ("container_pressure_cpu_stalled_seconds_total", "counter",
     "Total time duration no tasks in the container could make progress due to CPU "
     "congestion."),
    ("container_pressure_cpu_waiting_seconds_total", "counter",
     "Total time duration tasks in the container have waited due to CPU congestion."),
    ("container_spec_cpu_period", "gauge", "CPU period of the container."),
    ("container_spec_cpu_quota", "gauge", "CPU quota of the container."),
    ("container_spec_cpu_shares", "gauge", "CPU share of the container."),
    ("container_spec_memory_limit_bytes", "gauge", "Memory limit for the container."),
)


def shares(cpu: CpuStats) -> int | None:
    """cpu.shares on v1; on v2 cpu.weight mapped back to shares as cAdvisor does,
    [1, 10000] -> [2, 262144] (lib/container/common/helpers.go convertCPUWeightToCPULimit)."""
    if cpu.shares is not None:
        return cpu.shares
    w = cpu.weight
    if w is None or not 1 <= w <= 10000:
        return None
    return 2 + ((w - 1) * 262142) // 9999


def working_set(mem: MemoryStats, stat: Mapping[str, int] | None) -> int | None:
    """Usage minus inactive file pages (cAdvisor setMemoryStats: ``inactive_file`` on v2,
    the hierarchical ``total_inactive_file`` on v1, where memory.stat has both), never
    below 0; the usage when memory.stat could not be read."""
    if mem.current is None:
        return None
    if not stat:
        return mem.current
    inactive = stat.get("total_inactive_file", stat.get("inactive_file"))
    if inactive is None:
        return mem.current
    return max(0, mem.current - inactive)


def families(scrape: Scrape) -> Iterable[Metric]:
    fams = Families()
    for name, kind, doc in FAMILIES:
        fams.declare(name, kind, doc)
    for lv, c in distinct((labels.of(c), c) for c in measured(scrape)):
        assert c.cgroup is not None
        cg = scrape.cgroups[c.cgroup]
        fams.add("container_last_seen", lv, scrape.at)
        fams.add("container_processes", lv, len(c.pids))
        cpu = cg.cpu
        if cpu is not None:
            _cpu(fams, lv, cpu)
        mem = cg.memory
        if mem is not None:
            if mem.current is not None:
                fams.add("container_memory_usage_bytes", lv, mem.current)
                ws = working_set(mem, scrape.memory_stats.get(c.cgroup))
                if ws is not None:
                    fams.add("container_memory_working_set_bytes", lv, ws)
            # unlimited is 0 (cAdvisor specMemoryValue: above 1<<62 counts as no limit)
            fams.add("container_spec_memory_limit_bytes", lv, mem.max or 0)
    return fams


def _cpu(fams: Families, lv: dict[str, str], cpu: CpuStats) -> None:
    if cpu.usage_usec is not None:
        fams.add("container_cpu_usage_seconds_total", {**lv, "cpu": "total"}, cpu.usage_usec / 1e6)
    if cpu.user_usec is not None:
        fams.add("container_cpu_user_seconds_total", lv, cpu.user_usec / 1e6)
    if cpu.system_usec is not None:
        fams.add("container_cpu_system_seconds_total", lv, cpu.system_usec / 1e6)
    # the CFS counters only for a container with a quota of its own (cAdvisor's
    # condition: Spec.Cpu.Quota != 0); v1 throttled_time is in ns, v2 throttled_usec
    # in µs: both µs in the model
    if cpu.quota_usec is not None:
        fams.add("container_spec_cpu_quota", lv, cpu.quota_usec)
        if cpu.nr_periods is not None:
            fams.add("container_cpu_cfs_periods_total", lv, cpu.nr_periods)
        if cpu.nr_throttled is not None:
            fams.add("container_cpu_cfs_throttled_periods_total", lv, cpu.nr_throttled)
        if cpu.throttled_usec is not None:
            fams.add("container_cpu_cfs_throttled_seconds_total", lv, cpu.throttled_usec / 1e6)
    if cpu.period_usec is not None:
        fams.add("container_spec_cpu_period", lv, cpu.period_usec)
    s = shares(cpu)
    if s is not None:
        fams.add("container_spec_cpu_shares", lv, s)
    # PSI total= is in µs (Documentation/accounting/psi.rst): "some" is cAdvisor's
    # waiting, "full" its stalled
    p = cpu.pressure
    if p is not None:
        fams.add("container_pressure_cpu_waiting_seconds_total", lv, p.some_total / 1e6)
        if p.full_total is not None:
            fams.add("container_pressure_cpu_stalled_seconds_total", lv, p.full_total / 1e6)

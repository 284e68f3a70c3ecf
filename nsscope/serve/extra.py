"""What none of the peers exports, under ``nsscope_``.

- ``nsscope_container_info``: every container and sandbox nsscope recognises (the
  inventory ``nsscope ps -a`` lists), value 1, with its runtime, id, state and pod.
- ``nsscope_container_shares_host_namespace{type}``: 1 for each namespace type a
  container's main process shares with the host (pid 1), 0 for those it has of its
  own: ``docker run --network host`` is ``type="net"`` at 1.
- ``nsscope_namespace_processes{type, inode}``: one series per namespace, its member
  count; 0 for one kept alive with no process (a bind mount, an open fd).
- ``nsscope_cgroup_throttled_by_ancestor`` (a counter: ``…_total``) with
  ``nsscope_cgroup_ancestor_periods_total``: a CFS quota on a pod, a slice or any
  ancestor throttles the whole subtree below it, and the kernel counts that in the
  ancestor's cpu.stat only (sched-bwc.rst, "Hierarchical considerations";
  kernel/sched/fair.c throttle_cfs_rq), so cAdvisor's per-container counters show
  nothing. For each container and each strict ancestor of its cgroup with a quota of
  its own (``ancestor`` label), these are that ancestor's nr_throttled and
  nr_periods: ``increase(…throttled_by_ancestor_total) / increase(…ancestor_periods_total)``
  is the share of periods in which the ancestor held the container's subtree back.
"""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client.core import Metric

from nsscope.host.model import NS_TYPES, Container, Snapshot
from nsscope.printable import safe
from nsscope.serve import labels
from nsscope.serve.families import Families
from nsscope.serve.scrape import Scrape, measured

L = labels.NAMES
INFO = ("runtime", "container_id", "pod_uid", "qos", "state", "kind", "infra", "pid")


def families(scrape: Scrape) -> Iterable[Metric]:
    fams = Families()
    fams.declare("nsscope_container_info", "gauge",
                 "A container or sandbox nsscope recognises (1), with its runtime, id and state.",
                 L + INFO)
    fams.declare("nsscope_container_shares_host_namespace", "gauge",
                 "1 when the container's main process is in the host's namespace of this "
                 "type, 0 when it has its own.", (*L, "type"))
    fams.declare("nsscope_namespace_processes", "gauge",
                 "Processes in the namespace (0: kept alive by a bind mount or an open fd).",
                 ("type", "inode", "host"))
    fams.declare("nsscope_cgroup_throttled_by_ancestor_total", "counter",
                 "CFS periods in which this ancestor of the container's cgroup, which has a "
                 "quota of its own, was throttled (its nr_throttled): its whole subtree was "
                 "held back.", (*L, "ancestor"))
    fams.declare("nsscope_cgroup_ancestor_periods_total", "counter",
                 "CFS periods elapsed in that ancestor (its nr_periods).", (*L, "ancestor"))
    snap = scrape.snapshot
    for c in snap.containers:
        lv = labels.values(c)
        fams.add("nsscope_container_info", (*lv, *_info(c)), 1)
        _shared(fams, snap, c, lv)
    for c in measured(snap):
        _ancestors(fams, snap, c)
    for ns in snap.namespaces.values():
        fams.add("nsscope_namespace_processes",
                 (ns.type, str(ns.ino), "true" if snap.is_host(ns) else "false"), ns.nprocs)
    return fams


def _info(c: Container) -> tuple[str, ...]:
    return (c.runtime, safe(c.id), c.pod_uid or "", c.qos or "", c.state,
            "sandbox" if c.sandbox else "container", "true" if c.infra else "false",
            "" if c.pid is None else str(c.pid))


def _shared(fams: Families, snap: Snapshot, c: Container, lv: tuple[str, ...]) -> None:
    main = snap.processes.get(c.pid) if c.pid is not None else None
    if main is None or not main.ns or not snap.host_ns:
        return  # namespaces unknown (hidden, or gone): nothing to say, rather than 0
    for t in NS_TYPES:
        if t in main.ns and t in snap.host_ns:
            fams.add("nsscope_container_shares_host_namespace", (*lv, t),
                     1 if t in c.shares_host else 0)


def _ancestors(fams: Families, snap: Snapshot, c: Container) -> None:
    path = c.cgroup
    assert path is not None
    lv = labels.values(c)
    while path != "/":
        path = path.rsplit("/", 1)[0] or "/"
        if path == "/":
            break  # the root cgroup has no CFS bandwidth (sched-bwc.rst)
        cg = snap.cgroups.get(path)
        cpu = cg.cpu if cg is not None else None
        if cpu is None or cpu.quota_usec is None:
            continue
        if cpu.nr_throttled is not None:
            fams.add("nsscope_cgroup_throttled_by_ancestor_total", (*lv, safe(path)),
                     cpu.nr_throttled)
        if cpu.nr_periods is not None:
            fams.add("nsscope_cgroup_ancestor_periods_total", (*lv, safe(path)),
                     cpu.nr_periods)

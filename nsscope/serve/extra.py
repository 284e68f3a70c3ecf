"""What none of the peers exports, under ``nsscope_``.

- ``nsscope_container_info``: every container and sandbox nsscope recognises (the
  inventory ``nsscope ps -a`` lists), value 1, with its runtime, id, state and pod.
- ``nsscope_container_shares_host_namespace{type}``: 1 for each of the namespaces a
  container normally has of its own (pid, net, ipc, uts, mnt: ``model.ISOLATING``)
  that its main process shares with the host (pid 1); no series for the others:
  ``docker run --network host`` has ``type="net"``. (The host's user, cgroup and
  time namespaces are every runtime's default: the inventory does not repeat them.)
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

from nsscope.host.model import ISOLATING, Container
from nsscope.printable import safe
from nsscope.serve import labels
from nsscope.serve.families import Families, distinct
from nsscope.serve.scrape import Scrape, measured



def families(scrape: Scrape) -> Iterable[Metric]:
    fams = Families()
    fams.declare("nsscope_container_info", "gauge",
                 "A container or sandbox nsscope recognises (1), with its runtime, id and state.")
    fams.declare("nsscope_container_shares_host_namespace", "gauge",
                 "1 for each isolating namespace (pid, net, ipc, uts, mnt) the container's main "
                 "process shares with the host (pid 1); no series for those it has of its own.")
    fams.declare("nsscope_namespace_processes", "gauge",
                 "Processes in the namespace (0: kept alive by a bind mount or an open fd).")
    fams.declare("nsscope_cgroup_throttled_by_ancestor_total", "counter",
                 "CFS periods in which this ancestor of the container's cgroup, which has a "
                 "quota of its own, was throttled (its nr_throttled): its whole subtree was "
                 "held back.")
    fams.declare("nsscope_cgroup_ancestor_periods_total", "counter",
                 "CFS periods elapsed in that ancestor (its nr_periods).")
    snap = scrape.snapshot
    for lv, c in distinct(({**labels.of(c), **_info(c)}, c) for c in snap.containers):
        fams.add("nsscope_container_info", lv, 1)
        base = {k: lv[k] for k in labels.NAMES if k in lv}
        for t in ISOLATING:
            if t in c.shares_host:
                fams.add("nsscope_container_shares_host_namespace", {**base, "type": t}, 1)
    for lv, c in distinct((labels.of(c), c) for c in measured(scrape)):
        _ancestors(fams, scrape, c, lv)
    for ns in snap.namespaces.values():
        fams.add("nsscope_namespace_processes", {
            "type": ns.type, "inode": str(ns.ino),
            "host": "true" if snap.is_host(ns) else "false"}, ns.nprocs)
    return fams


def _info(c: Container) -> dict[str, str]:
    info = {"runtime": c.runtime, "container_id": safe(c.id), "pod_uid": safe(c.pod_uid or ""),
            "qos": c.qos or "", "state": c.state,
            "kind": "sandbox" if c.sandbox else "container",
            "infra": "true" if c.infra else "false",
            "pid": "" if c.pid is None else str(c.pid)}
    return {k: v for k, v in info.items() if v}


def _ancestors(fams: Families, scrape: Scrape, c: Container, lv: dict[str, str]) -> None:
    path = c.cgroup
    assert path is not None
    while path != "/":
        path = path.rsplit("/", 1)[0] or "/"
        cpu = scrape.limits.get(path)  # those with a quota of their own (CgroupReader)
        if cpu is None or cpu.quota_usec is None:
            continue
        if cpu.nr_throttled is not None:
            fams.add("nsscope_cgroup_throttled_by_ancestor_total",
                     {**lv, "ancestor": safe(path)}, cpu.nr_throttled)
        if cpu.nr_periods is not None:
            fams.add("nsscope_cgroup_ancestor_periods_total",
                     {**lv, "ancestor": safe(path)}, cpu.nr_periods)

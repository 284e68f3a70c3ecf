"""A fixed scenario for screenshots and snapshot tests: five minutes of a captured host.

A capture (tests/fixtures/scene-v2: a host with docker containers, a
Kubernetes pod and a sandbox, one container held to 20 %; or
tests/fixtures/cgroup-v2-vm: a docker-style scope limited to 20 % and a
kubepods-style pod limited to 50 %, each running a busy process) is one
instant. The frames here replay it for ``seconds`` seconds: every second each
cgroup's counters advance the way CFS bandwidth control advances them
(Documentation/scheduler/sched-bwc.rst) — usage at most quota per period,
every period throttled while demand exceeds the quota, throttled time the
demand the quota refused — with a seeded jitter, so the pictures are the same
on every run and never read /proc.

What each cgroup's own processes demand comes from the capture where it holds
two readings (``before/``: every cgroup's cpu.stat some seconds earlier): the
CPU they used over that window plus what their own quota refused them. A
capture without them uses the ``DEMAND`` table (busy loops in the docker and
containerd scopes).

``throttle_at``: the throttled docker scope starts unlimited and gets its
quota at that second (what `nsscope throttle batch 20%` does to a busy
container).
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from pathlib import Path

from nsscope.host import collector
from nsscope.host.containers import StatePaths
from nsscope.host.model import Cgroup, Pressure, Snapshot

#: CPUs each cgroup's own processes want (the capture's busy loops)
DEMAND = {"docker-": 1.0, "cri-containerd-": 1.0, "user.slice": 0.002}
PERIODS_PER_SECOND = 10  # cpu.max period 100000 µs


def base(fixture: str | Path) -> Snapshot:
    """The capture as one snapshot: its /proc, cgroups and runtime state (the
    state under the fixture's prefix, never this host's /var/lib/docker)."""
    fixture = Path(fixture)
    roots = collector.Roots(proc=str(fixture / "proc"), cgroup=str(fixture / "sys/fs/cgroup"),
                            state=StatePaths().under(str(fixture)))
    snap = collector.collect(roots, fds=False)
    # a checkout keeps no file owners: the uid of /proc/PID is in its status
    # ("Uid:" real, effective, …), as the capture read it
    procs = {}
    for pid, p in snap.processes.items():
        uid = _status_uid(fixture / "proc" / str(pid) / "status")
        procs[pid] = p if uid is None or uid == p.uid else p._replace(uid=uid)
    return snap._replace(processes=Snapshot.freeze(procs))


def _status_uid(path: Path) -> int | None:
    try:
        for line in path.read_text().splitlines():
            if line.startswith("Uid:"):
                return int(line.split()[2])  # the effective uid, what /proc/PID is owned by
    except (OSError, ValueError, IndexError):
        pass
    return None


def measured_demand(fixture: str | Path, snap: Snapshot) -> dict[str, float] | None:
    """CPUs each cgroup's own processes want, from the capture's two readings
    (before/…/cpu.stat and the final one): own usage over the window, plus what
    the cgroup's own quota refused it (throttled_usec). None without before/."""
    before = Path(fixture) / "before"
    if not before.is_dir():
        return None
    try:
        t0 = float((before / "proc/uptime").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    dt = snap.uptime - t0
    if dt <= 0:
        return None
    used: dict[str, float] = {}
    refused: dict[str, float] = {}
    for path, cg in snap.cgroups.items():
        if cg.cpu is None:
            continue
        rel = "" if path == "/" else path
        try:
            text = (before / f"sys/fs/cgroup{rel}/cpu.stat").read_text()
        except OSError:
            continue
        # "usage_usec 1234\n…" (cgroup-v2.rst, flat keyed)
        old = {k: int(v) for k, v in (line.split() for line in text.splitlines() if line)}
        used[path] = max(0.0, ((cg.cpu.usage_usec or 0) - old.get("usage_usec", 0)) / 1e6 / dt)
        if cg.cpu.quota_usec is not None:
            refused[path] = max(0.0, ((cg.cpu.throttled_usec or 0)
                                      - old.get("throttled_usec", 0)) / 1e6 / dt)
    own: dict[str, float] = {}
    for path in snap.cgroups:
        if path not in used:
            continue
        kids = sum(used.get(c, 0.0) for c, k in snap.cgroups.items() if k.parent_path == path)
        has_procs = any(p.cgroup_for("cpu") == path for p in snap.processes.values())
        own[path] = max(0.0, used[path] - kids) + (refused.get(path, 0.0) if has_procs else 0.0)
    return own


def _demand(path: str) -> float:
    leaf = path.rsplit("/", 1)[-1]
    for prefix, cpus in DEMAND.items():
        if leaf.startswith(prefix):
            return cpus
    return 0.0


def _want(p: str, children: dict[str, list[str]], own: dict[str, float],
          wanted: dict[str, float]) -> float:
    """CPUs wanted by p and everything below it."""
    wanted[p] = own[p] + sum(_want(c, children, own, wanted) for c in children.get(p, ()))
    return wanted[p]


def _give(p: str, share: float, children: dict[str, list[str]], own: dict[str, float],
          wanted: dict[str, float], quotas: dict[str, float | None],
          got: dict[str, float]) -> float:
    """CPUs p gets when its ancestors' quotas let through ``share`` of what it wants
    (a quota caps a subtree: sched-bwc.rst, hierarchical considerations)."""
    w = wanted[p] * share
    q = quotas.get(p)
    scale = share if q is None or w <= q else share * q / w
    got[p] = own[p] * scale + sum(_give(c, scale, children, own, wanted, quotas, got)
                                  for c in children.get(p, ()))
    return got[p]


def frames(fixture: str | Path, seconds: int = 300, throttle_at: int | None = None,
           seed: int = 8, demand: Mapping[str, float] | None = None) -> list[Snapshot]:
    snap = base(fixture)
    rng = random.Random(seed)
    cgs = dict(snap.cgroups)
    if demand is None:
        demand = measured_demand(fixture, snap)
    dockers = [p for p in cgs if p.rsplit("/", 1)[-1].startswith("docker-")]
    # the scope `throttle_at` limits: the docker one with a quota (the capture's
    # throttled container), else the first
    docker = next((p for p in dockers if (cpu := cgs[p].cpu) is not None
                   and cpu.quota_usec is not None), dockers[0])
    docker_cpu = cgs[docker].cpu
    docker_quota = docker_cpu.quota_usec if docker_cpu is not None else None
    children: dict[str, list[str]] = {}
    for p, cg in cgs.items():
        if cg.parent_path is not None:
            children.setdefault(cg.parent_path, []).append(p)
    out: list[Snapshot] = []
    state = {p: cg.cpu for p, cg in cgs.items() if cg.cpu is not None}
    host_psi = snap.cpu_pressure
    for second in range(seconds + 1):
        quotas: dict[str, float | None] = {}
        for p, cpu in state.items():
            q = cpu.limit_cpus
            if p == docker and throttle_at is not None:
                q = None if second < throttle_at else (docker_quota or 20000) / 100000
            quotas[p] = q

        own = {p: (_demand(p) if demand is None else demand.get(p, 0.0))
               * (1.0 + rng.uniform(-0.02, 0.02)) for p in sorted(cgs)}
        wanted: dict[str, float] = {}
        _want("/", children, own, wanted)
        got: dict[str, float] = {}
        _give("/", 1.0, children, own, wanted, quotas, got)
        new_cgs: dict[str, Cgroup] = {}
        for p, cg in cgs.items():
            old_cpu = state.get(p)
            if old_cpu is None:
                new_cgs[p] = cg
                continue
            cpu = old_cpu
            q = quotas.get(p)
            throttled = q is not None and wanted[p] > q + 1e-9
            periods = PERIODS_PER_SECOND if q is not None and wanted[p] > 0 else 0
            # a busy loop against its quota is throttled in nearly every period
            thr_periods = periods - (rng.random() < 0.1) if throttled else 0
            refused = max(0.0, wanted[p] - got[p])
            waiting = refused / wanted[p] if wanted[p] > 0 else 0.0
            pressure = cpu.pressure
            if pressure is not None and second:
                add = int(waiting * 1e6 * (1 + rng.uniform(-0.03, 0.03)))
                pressure = pressure._replace(some_total=pressure.some_total + add,
                                   full_total=(pressure.full_total or 0) + add,
                                   some_avg10=round(100 * waiting, 2))
            usage = int(got[p] * 1e6) if second else 0
            cpu = cpu._replace(
                usage_usec=(cpu.usage_usec or 0) + usage,
                nr_periods=(cpu.nr_periods or 0) + (periods if second else 0),
                nr_throttled=(cpu.nr_throttled or 0) + (thr_periods if second else 0),
                # throttled_usec counts this cgroup's own quota only
                throttled_usec=(cpu.throttled_usec or 0)
                + (int(refused * 1e6) if second and throttled else 0),
                quota_usec=None if q is None else int(q * 100000),
                period_usec=cpu.period_usec or 100000, pressure=pressure)
            state[p] = cpu
            new_cgs[p] = cg._replace(cpu=cpu)
        if host_psi is not None and second:
            host_psi = Pressure(some_avg10=host_psi.some_avg10, some_avg60=host_psi.some_avg60,
                                some_avg300=host_psi.some_avg300,
                                some_total=host_psi.some_total + int(0.5e6),
                                full_avg10=host_psi.full_avg10, full_total=host_psi.full_total)
        out.append(snap._replace(cgroups=Snapshot.freeze(new_cgs),
                                  uptime=snap.uptime + second, cpu_pressure=host_psi))
    return out


"""cgroup readers: live cgroups made by the test, and the real v2 tree captured in a VM."""

from __future__ import annotations

import os
import signal
import subprocess
import time
import uuid

import pytest

from nsscope.host import cgroups
from nsscope.host.collector import collect
from nsscope.host.model import UNIFIED

from support import need_root, read_file, remove_cgroups, write_file


class LiveCgroup:
    """A cgroup the test makes (nsscope-test-…) in every hierarchy it needs, then removes."""

    def __init__(self) -> None:
        self.name = f"/nsscope-test-{uuid.uuid4().hex[:8]}"
        self.mode = cgroups.detect_mode()
        self.dirs: dict[str, str] = {}
        hs = {h.key: h for h in cgroups.hierarchies()}
        if self.mode == "unified":
            root = hs[UNIFIED].mountpoint
            write_file(root + "/cgroup.subtree_control", "+cpu +memory +pids")
            self.dirs = {c: root + self.name for c in ("cpu", "cpuacct", "memory", "pids")}
        else:
            for h in hs.values():
                for c in ("cpu", "cpuacct", "memory", "pids"):
                    if c in h.controllers:
                        self.dirs[c] = h.mountpoint + self.name
        for d in set(self.dirs.values()):
            os.mkdir(d)

    def add(self, pid: int) -> None:
        for d in set(self.dirs.values()):
            write_file(d + "/cgroup.procs", str(pid))

    def remove(self) -> None:
        remove_cgroups(set(self.dirs.values()))


@pytest.fixture
def live():
    need_root()
    cg = LiveCgroup()
    procs: list[subprocess.Popen] = []
    yield cg, procs
    for p in procs:
        p.kill()
        p.wait()
    cg.remove()


@pytest.mark.v2
def test_live_figures_equal_the_files(live):
    cg, procs = live
    p = subprocess.Popen(["sleep", "1000"])
    procs.append(p)
    cg.add(p.pid)
    if cg.mode == "unified":
        write_file(cg.dirs["cpu"] + "/cpu.max", "30000 100000")
        write_file(cg.dirs["memory"] + "/memory.max", str(64 << 20))
    else:
        write_file(cg.dirs["cpu"] + "/cpu.cfs_quota_us", "30000")
        write_file(cg.dirs["memory"] + "/memory.limit_in_bytes", str(64 << 20))
    write_file(cg.dirs["pids"] + "/pids.max", "50")
    def usage() -> int:
        if cg.mode == "unified":
            stat = read_file(cg.dirs["cpu"] + "/cpu.stat").splitlines()
            return int(dict(x.split() for x in stat)["usage_usec"])
        return int(read_file(cg.dirs["cpuacct"] + "/cpuacct.usage")) // 1000

    # the process may still be starting (exec of sleep) and using CPU: the
    # snapshot's reading must lie between two readings of the file around it
    before = usage()
    snap = collect()
    after = usage()
    got = snap.cgroups[cg.name]
    assert before <= got.cpu.usage_usec <= after
    assert got.procs == (p.pid,)
    assert got.cpu.quota_usec == 30000 and got.cpu.period_usec == 100000
    assert got.cpu.limit_cpus == 0.3
    assert got.memory.max == 64 << 20
    assert got.pids.max == 50 and got.pids.current == 1
    assert snap.processes[p.pid].cgroup_for("cpu") == cg.name
    assert snap.processes[p.pid].cgroup_for("memory") == cg.name


def _keyed_file(path: str) -> dict[str, int]:
    return {k: int(v) for k, v in (line.split() for line in read_file(path).splitlines())}


@pytest.mark.v2
def test_every_cpu_figure_equals_its_file_through_both_readers(live):
    """Each CpuStats field from its own file, on a throttled cgroup whose one process is
    then stopped (its counters hold still): cgroups.cpu_v1/cpu_v2 build the record
    positionally for speed, so a field in the wrong place must show here; and the
    CpuReader ``nsscope top`` uses reads the same figures."""
    from nsscope.host.cpu_reader import CpuReader

    cg, procs = live
    p = subprocess.Popen(["sh", "-c", "while :; do :; done"])
    procs.append(p)
    cg.add(p.pid)
    cpu, acct = cg.dirs["cpu"], cg.dirs["cpuacct"]
    if cg.mode == "unified":
        write_file(cpu + "/cpu.max", "10000 100000")
    else:
        write_file(cpu + "/cpu.cfs_quota_us", "10000")
    deadline = time.monotonic() + 10
    while _keyed_file(cpu + "/cpu.stat")["nr_throttled"] < 3:
        assert time.monotonic() < deadline, "the busy loop was never throttled"
        time.sleep(0.05)
    p.send_signal(signal.SIGSTOP)
    time.sleep(0.3)  # the last period ends; nothing runs in the cgroup after it
    hs = cgroups.hierarchies()
    with CpuReader(hs) as reader:
        via_reader = reader.read()[cg.name].cpu
    stat = _keyed_file(cpu + "/cpu.stat")
    if cg.mode == "unified":
        got = cgroups.cpu_v2(cpu)
        quota, period = read_file(cpu + "/cpu.max").split()
        want = dict(usage_usec=stat["usage_usec"], user_usec=stat["user_usec"],
                    system_usec=stat["system_usec"], throttled_usec=stat["throttled_usec"],
                    quota_usec=int(quota), period_usec=int(period),
                    weight=int(read_file(cpu + "/cpu.weight")), shares=None)
        total = dict(x.split("=") for x in read_file(cpu + "/cpu.pressure")
                     .splitlines()[0].split()[1:])["total"]
        assert got.pressure.some_total == int(total)
    else:
        got = cgroups.cpu_v1(cpu, acct)
        ticks = _keyed_file(acct + "/cpuacct.stat")
        hz = os.sysconf("SC_CLK_TCK")
        want = dict(usage_usec=int(read_file(acct + "/cpuacct.usage")) // 1000,
                    user_usec=ticks["user"] * 1_000_000 // hz,
                    system_usec=ticks["system"] * 1_000_000 // hz,
                    throttled_usec=stat["throttled_time"] // 1000,
                    quota_usec=int(read_file(cpu + "/cpu.cfs_quota_us")),
                    period_usec=int(read_file(cpu + "/cpu.cfs_period_us")),
                    weight=None, shares=int(read_file(cpu + "/cpu.shares")))
        assert got.pressure is None
    want.update(nr_periods=stat["nr_periods"], nr_throttled=stat["nr_throttled"])
    assert {f: getattr(got, f) for f in want} == want
    assert want["quota_usec"] == 10000 and want["nr_throttled"] >= 3
    assert via_reader._replace(pressure=None) == got._replace(pressure=None)

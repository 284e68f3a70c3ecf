"""cgroup readers: live cgroups made by the test, and the real v2 tree captured in a VM."""

from __future__ import annotations

import os
import subprocess
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

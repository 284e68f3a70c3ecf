"""The collector on a live cgroup-v2 tree (runs in the VM of `make test-v2`).

The test makes /sys/fs/cgroup/nsscope-test-…/leaf with the cpu, memory and pids
controllers enabled and limits written, moves a busy child process into it,
stops the child (so the figures hold still), takes a snapshot and compares
every figure with the cgroup files it comes from (cgroup-v2.rst names them).
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
import uuid

import pytest

from nsscope.host.collector import collect
from nsscope.host.model import UNIFIED

from support import need_v2_host, read_file, write_file

pytestmark = [pytest.mark.v2, pytest.mark.v2only]

CG = "/sys/fs/cgroup"


def _keyed(path: str) -> dict[str, int]:
    return {k: int(v) for k, v in (line.split() for line in read_file(path).splitlines())}


def _state(pid: int) -> str:
    stat = read_file(f"/proc/{pid}/stat")
    return stat[stat.rindex(")") + 2]


@pytest.fixture
def v2_cgroup():
    """/nsscope-test-…/leaf with +cpu +memory +pids down the path; removed afterwards."""
    need_v2_host()
    top = f"/nsscope-test-{uuid.uuid4().hex[:8]}"
    leaf = f"{top}/leaf"
    # the root cgroup is exempt from the no-internal-process rule (cgroup-v2.rst
    # "No Internal Process Constraint"), so enabling controllers there is fine
    # with processes in it; only the ones missing are added
    have = read_file(f"{CG}/cgroup.subtree_control").split()
    missing = [c for c in ("cpu", "memory", "pids") if c not in have]
    if missing:
        write_file(f"{CG}/cgroup.subtree_control", " ".join("+" + c for c in missing))
    os.mkdir(CG + top)
    made = [top]
    try:
        write_file(f"{CG}{top}/cgroup.subtree_control", "+cpu +memory +pids")
        os.mkdir(CG + leaf)
        made.append(leaf)
        yield top, leaf
    finally:
        for path in reversed(made):
            for _ in range(50):  # a killed task leaves its cgroup a moment later
                try:
                    os.rmdir(CG + path)
                    break
                except OSError:
                    time.sleep(0.1)


def test_collector_figures_equal_the_v2_files(v2_cgroup):
    top, leaf = v2_cgroup
    d = CG + leaf
    write_file(d + "/cpu.max", "20000 100000")
    write_file(d + "/cpu.weight", "50")
    write_file(d + "/memory.max", str(64 << 20))
    write_file(d + "/pids.max", "50")
    # the child waits on stdin until it is in the cgroup, then spins
    child = subprocess.Popen(["/bin/sh", "-c", "read go; while :; do :; done"],
                             stdin=subprocess.PIPE)
    try:
        write_file(d + "/cgroup.procs", str(child.pid))
        child.stdin.write(b"go\n")
        child.stdin.flush()
        # spin until the 20 % quota has throttled it (CFS bandwidth, sched-bwc.rst)
        for _ in range(300):
            if _keyed(d + "/cpu.stat")["nr_throttled"] >= 3:
                break
            time.sleep(0.1)
        os.kill(child.pid, signal.SIGSTOP)
        for _ in range(100):
            if _state(child.pid) == "T":
                break
            time.sleep(0.05)
        assert _state(child.pid) == "T"
        # the bandwidth period timer counts a period or two more before it sees
        # the group idle and stops (sched-bwc.rst; kernel/sched/fair.c
        # do_sched_cfs_period_timer): wait until cpu.stat holds still
        before = _keyed(d + "/cpu.stat")
        for _ in range(50):
            time.sleep(0.3)
            now = _keyed(d + "/cpu.stat")
            if now == before:
                break
            before = now

        snap = collect()

        # the files, read after the snapshot; a stopped task moves none of them
        stat = _keyed(d + "/cpu.stat")
        assert stat["nr_throttled"] >= 3
        cg = snap.cgroups[leaf]
        assert cg.hierarchies == (UNIFIED,)
        assert cg.procs == (child.pid,)
        assert cg.procs == tuple(int(x) for x in read_file(d + "/cgroup.procs").split())
        assert snap.processes[child.pid].cgroups == {UNIFIED: leaf}
        assert read_file(f"/proc/{child.pid}/cgroup") == f"0::{leaf}\n"

        cpu = cg.cpu
        assert (cpu.usage_usec, cpu.user_usec, cpu.system_usec) == (
            stat["usage_usec"], stat["user_usec"], stat["system_usec"])
        assert (cpu.nr_periods, cpu.nr_throttled, cpu.throttled_usec) == (
            stat["nr_periods"], stat["nr_throttled"], stat["throttled_usec"])
        assert read_file(d + "/cpu.max") == "20000 100000\n"
        assert (cpu.quota_usec, cpu.period_usec, cpu.limit_cpus) == (20000, 100000, 0.2)
        assert cpu.weight == int(read_file(d + "/cpu.weight")) == 50
        first = read_file(d + "/cpu.pressure").splitlines()[0]
        some = dict(p.split("=") for p in first.split()[1:])
        assert cpu.pressure is not None and cpu.pressure.some_total == int(some["total"])

        assert cg.memory.max == int(read_file(d + "/memory.max")) == 64 << 20
        assert cg.memory.current == int(read_file(d + "/memory.current"))
        assert cg.pids.max == int(read_file(d + "/pids.max")) == 50
        assert cg.pids.current == int(read_file(d + "/pids.current")) == 1

        # the parent: no limits of its own ("max"), no member, usage includes the leaf's
        parent = snap.cgroups[top]
        assert parent.procs == ()
        assert read_file(CG + top + "/cpu.max").split()[0] == "max"
        assert parent.cpu.quota_usec is None and parent.cpu.limit_cpus is None
        assert parent.memory.max is None and parent.pids.max is None
        assert parent.cpu.usage_usec == _keyed(CG + top + "/cpu.stat")["usage_usec"]
        assert parent.cpu.usage_usec >= cpu.usage_usec
    finally:
        child.kill()
        child.wait()

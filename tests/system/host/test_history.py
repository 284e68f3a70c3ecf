"""nsscope.host.history: rates from pairs of cgroup counters, and the per-cgroup ring buffers."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from nsscope.host import cgroups, collector
from nsscope.host.history import snapshot_rates

from support import need_root, remove_cgroups


def test_rates_of_a_real_busy_cgroup_match_proc_stat():
    """A busy loop in a cgroup of its own: usage % from the cgroup's counters agrees with
    the CPU time /proc/PID/stat reports (utime+stime) over the same interval."""
    need_root()
    hs = cgroups.hierarchies()
    cpu_h = cgroups.cpu_hierarchy(hs)
    if cpu_h is None:
        pytest.skip("no cpu controller")
    acct = next((h for h in hs if "cpuacct" in h.controllers), cpu_h)
    name = f"/nsscope-test-history-{os.getpid()}"
    dirs = [cpu_h.mountpoint + name]
    if acct is not cpu_h:
        dirs.append(acct.mountpoint + name)
    for d in dirs:
        os.mkdir(d)
    busy = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        for d in dirs:
            fd = os.open(d + "/cgroup.procs", os.O_WRONLY)
            try:
                os.write(fd, str(busy.pid).encode())
            finally:
                os.close(fd)
        tick = os.sysconf("SC_CLK_TCK")

        def proc_cpu() -> float:
            with open(f"/proc/{busy.pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / tick

        time.sleep(0.5)
        s1, c1 = collector.collect(fds=False), proc_cpu()
        time.sleep(3.0)
        s2, c2 = collector.collect(fds=False), proc_cpu()
        r = snapshot_rates(s1, s2)[name]
        oracle = 100.0 * (c2 - c1) / (s2.uptime - s1.uptime)
        assert r.usage_pct == pytest.approx(oracle, abs=5.0)
        assert r.limit_pct is None
    finally:
        busy.kill()
        busy.wait()
        remove_cgroups(reversed(dirs))

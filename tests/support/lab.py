"""A lab for throttle tests: busy loops, cgroups of their own, CPU shares measured
from /proc/PID/stat (the kernel's own account)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid

from nsscope.actions import throttle
from nsscope.host import cgroups

from support import read_file, remove_cgroups, write_file
from support.scenario import wait_for

CLK_TCK = os.sysconf("SC_CLK_TCK")
#: a busy loop in N threads; hashlib releases the GIL on large buffers, so the
#: threads really run in parallel (Modules/_hashopenssl.c, HASHLIB_GIL_MINSIZE)
BUSY = """\
import hashlib, sys, threading
buf = b"x" * (1 << 20)


def spin():
    while True:
        hashlib.sha256(buf).digest()
for _ in range(int(sys.argv[1]) - 1):
    threading.Thread(target=spin, daemon=True).start()
spin()
"""
TOLERANCE = 2.0  # points of one CPU


def cpu_seconds(pid: int) -> float:
    """utime + stime of the whole process (fields 14 and 15 of /proc/PID/stat, proc(5))."""
    data = read_file(f"/proc/{pid}/stat")
    rest = data[data.rindex(")") + 2:].split()
    return (int(rest[11]) + int(rest[12])) / CLK_TCK


def measure(pid: int, seconds: float = 3.0) -> float:
    """The process's CPU share over ``seconds``, in % of one CPU."""
    t0, c0 = time.monotonic(), cpu_seconds(pid)
    time.sleep(seconds)
    t1, c1 = time.monotonic(), cpu_seconds(pid)
    return 100.0 * (c1 - c0) / (t1 - t0)


def proc_cgroups(pid: int) -> str:
    return read_file(f"/proc/{pid}/cgroup")


def cpu_stat(d: str) -> dict[str, int]:
    lines = read_file(d + "/cpu.stat").splitlines()
    return {k: int(v) for k, v in (line.split() for line in lines)}


def limit_text(d: str) -> dict[str, str]:
    """The limit files' exact contents."""
    if os.path.exists(d + "/cpu.max"):
        names: tuple[str, ...] = ("cpu.max",)
    elif os.path.exists(d + "/cpu.cfs_quota_us"):
        names = ("cpu.cfs_quota_us", "cpu.cfs_period_us")
    else:
        names = ()  # the v2 root cgroup has no cpu.max
    return {n: read_file(f"{d}/{n}") for n in names}


def nsscope_dirs() -> list[str]:
    """Every /nsscope cgroup directory, in every hierarchy."""
    return [h.mountpoint + throttle.PARENT for h in cgroups.hierarchies()
            if os.path.isdir(h.mountpoint + throttle.PARENT)]


def favour(dirs: list[str]) -> None:
    """The largest CPU weight, so other load on the machine cannot hold these below their
    limit (sched-bwc.rst: a quota is a ceiling, the weight decides under contention)."""
    for d in dirs:
        if os.path.exists(d + "/cpu.weight"):
            write_file(d + "/cpu.weight", "10000")
        elif os.path.exists(d + "/cpu.shares"):
            write_file(d + "/cpu.shares", "262144")


class OwnCgroup:
    """A container-like cgroup made by the test (nsscope-test-…), as runtimes make them:
    in the cpu and cpuacct hierarchies (and cgroup2 on a hybrid host), or on v2 with the
    cpu controller enabled from the root down."""

    def __init__(self, parent: OwnCgroup | None = None, suffix: str = "") -> None:
        self.path = (parent.path if parent else "") + f"/nsscope-test-{uuid.uuid4().hex[:8]}" \
            + suffix
        self.mode = cgroups.detect_mode()
        hs = cgroups.hierarchies()
        self.hst = throttle.host()
        if self.mode == "unified":
            root = self.hst.cpu.mountpoint
            if parent is None and "cpu" not in read_file(root + "/cgroup.subtree_control").split():
                write_file(root + "/cgroup.subtree_control", "+cpu")
            self.dirs = [root + self.path]
        else:
            self.dirs = [h.mountpoint + self.path for h in hs
                         if h.version == 2 or "cpu" in h.controllers
                         or "cpuacct" in h.controllers]
        for d in self.dirs:
            os.mkdir(d)
        self.cpu_dir = self.hst.cpu.mountpoint + self.path
        self.children: list[OwnCgroup] = []
        if parent is not None:
            parent.children.append(self)

    def enable_cpu_below(self) -> None:
        if self.mode == "unified":
            write_file(self.cpu_dir + "/cgroup.subtree_control", "+cpu")

    def add(self, pid: int) -> None:
        for d in self.dirs:
            write_file(d + "/cgroup.procs", str(pid))

    def remove(self) -> None:
        for c in self.children:
            c.remove()
        remove_cgroups(self.dirs)


class Lab:
    """Processes and cgroups a test makes; all gone (and any nsscope limit on them
    undone) when it ends."""

    def __init__(self) -> None:
        self.procs: list[subprocess.Popen] = []
        self.cgroups: list[OwnCgroup] = []

    def busy(self, threads: int = 1) -> int:
        p = subprocess.Popen([sys.executable, "-c", BUSY, str(threads)],
                             stdin=subprocess.DEVNULL, start_new_session=True)
        self.procs.append(p)
        wait_for(lambda: len(os.listdir(f"/proc/{p.pid}/task")) >= threads,
                 what=f"{threads} busy threads")
        return p.pid

    def spawn(self, argv: list[str]) -> int:
        p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, start_new_session=True)
        self.procs.append(p)
        return p.pid

    def cgroup(self, parent: OwnCgroup | None = None, suffix: str = "") -> OwnCgroup:
        cg = OwnCgroup(parent, suffix)
        if parent is None:
            self.cgroups.append(cg)
        return cg

    def close(self) -> None:
        for p in self.procs:
            for rec in throttle.records():
                if rec.target.pid == p.pid:
                    throttle.reset(p.pid)
        for p in self.procs:
            with_pgid = p.pid
            try:
                os.killpg(with_pgid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            p.wait()
        for cg in self.cgroups:
            cg.remove()

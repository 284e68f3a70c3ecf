"""The live host's cgroupfs as the tests read it (the kernel's own text)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from nsscope.host import cgroups

from support import remove_cgroups


def unified() -> bool:
    return cgroups.detect_mode() == "unified"


def cpu_dir(path: str) -> Path:
    """Where cgroup ``path`` of the cpu controller is mounted here."""
    return Path("/sys/fs/cgroup" if unified() else "/sys/fs/cgroup/cpu", path.lstrip("/"))


def raw_quota(path: str) -> str:
    """The kernel's own text: cpu.max on v2, cpu.cfs_quota_us on v1."""
    return (cpu_dir(path) / ("cpu.max" if unified() else "cpu.cfs_quota_us")).read_text().strip()


def quota(path: str) -> float | None:
    """CPUs allowed to ``path`` by its own limit, None without one."""
    if unified():
        q, period = raw_quota(path).split()
        return None if q == "max" else int(q) / int(period)
    q = int(raw_quota(path))
    return None if q < 0 else q / int((cpu_dir(path) / "cpu.cfs_period_us").read_text())


class CgroupWithProcess:
    """A cgroup of the test's own in the cpu hierarchy, with one process in it."""

    def __init__(self, name: str, argv: list[str]) -> None:
        hs = cgroups.hierarchies()
        self.h = cgroups.cpu_hierarchy(hs)
        if self.h is None:
            pytest.skip("no cpu controller")
        self.path = f"/{name}"
        self.dir = self.h.mountpoint + self.path
        # on a v1 host with cpuacct mounted apart, usage is there: join it too
        acct = next((h for h in hs if h.version == 1 and "cpuacct" in h.controllers
                     and h is not self.h), None)
        self.dirs = [self.dir] + ([acct.mountpoint + self.path] if acct else [])
        for d in self.dirs:
            os.mkdir(d)
        self.proc = subprocess.Popen(argv, start_new_session=True)
        for d in self.dirs:
            fd = os.open(d + "/cgroup.procs", os.O_WRONLY)
            try:
                os.write(fd, str(self.proc.pid).encode())
            finally:
                os.close(fd)

    def quota(self) -> str:
        """The limit file's content: cfs_quota_us on v1, cpu.max on v2."""
        name = "cpu.cfs_quota_us" if self.h.version == 1 else "cpu.max"
        with open(f"{self.dir}/{name}") as f:
            return f.read().strip()

    def close(self) -> None:
        self.proc.kill()
        self.proc.wait()
        remove_cgroups(self.dirs)

"""The host `make test-v2` boots really is cgroup v2 unified (only meaningful there).

Marked v2only: `make test` deselects it; in the VM (NSSCOPE_IN_V2_VM=1) nothing
skips it, so a VM that came up v1 or hybrid fails here instead of letting the
v2 tests pass on the wrong kernel setup.
"""

from __future__ import annotations

import os
import subprocess

import pytest

from nsscope.host import cgroups
from nsscope.host.collector import collect
from nsscope.host.model import UNIFIED

from support import need_tool, need_v2_host

pytestmark = [pytest.mark.v2, pytest.mark.v2only]

#: include/uapi/linux/magic.h
CGROUP2_SUPER_MAGIC = 0x63677270


def test_sys_fs_cgroup_is_cgroup2_and_we_are_in_the_unified_hierarchy():
    need_v2_host()
    # statfs(2) through coreutils stat(1), independent of nsscope.kernel.syscalls
    magic = subprocess.run([need_tool("stat"), "-f", "-c", "%t", "/sys/fs/cgroup"],
                           capture_output=True, text=True, check=True).stdout.strip()
    assert int(magic, 16) == CGROUP2_SUPER_MAGIC
    # cgroup_no_v1=all: a single "0::/path" line, no v1 hierarchy (cgroups(7))
    with open("/proc/self/cgroup") as f:
        lines = f.read().splitlines()
    assert len(lines) == 1 and lines[0].startswith("0::/"), lines
    with open("/proc/self/mountinfo") as f:
        fstypes = {line.split(" - ")[1].split()[0] for line in f}
    assert "cgroup" not in fstypes and "cgroup2" in fstypes


def test_nsscope_sees_unified_mode_with_the_kernel_controllers():
    need_v2_host()
    assert cgroups.detect_mode() == "unified"
    snap = collect()
    assert snap.cgroup_mode == "unified"
    assert [h.version for h in snap.hierarchies] == [2]
    with open("/sys/fs/cgroup/cgroup.controllers") as f:
        controllers = tuple(f.read().split())
    assert snap.hierarchies[0].controllers == controllers
    for c in ("cpu", "memory", "pids"):
        assert c in controllers
    me = snap.processes[os.getpid()]
    with open("/proc/self/cgroup") as f:
        assert f"0::{me.cgroups[UNIFIED]}\n" == f.read()


def test_mounted_as_systemd_mounts_it():
    """nsdelegate (src/shared/mount-setup.c): cgroup namespaces are delegation
    boundaries, which changes who may move a process where (cgroup-v2.rst)."""
    need_v2_host()
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split()
            if fields[4] == "/sys/fs/cgroup":
                assert "nsdelegate" in line.split(" - ")[1].split()[2].split(",")
                break
        else:
            pytest.fail("/sys/fs/cgroup is not in mountinfo")

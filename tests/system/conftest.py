"""Fixtures the system tests share."""

from __future__ import annotations

import os

import pytest

from support import need_root
from support.lab import Lab
from support.runtimes import CgroupGuard, Oci, busybox_rootfs


@pytest.fixture
def lab():
    need_root()
    lab = Lab()
    yield lab
    lab.close()


@pytest.fixture
def walk_runc(tmp_path):
    """A runc container in a cgroup no runtime pattern knows
    (/nsscope-test-walk-N/walk-runc-N), as issue 15 found one: `ps` recognises it from
    runc's state. Yields (cgroup, pid); its name is the cgroup's last part (runc names are
    the machine's: test_targets' own walk-runc, and other sessions', are left alone)."""
    need_root()
    parent = f"nsscope-test-walk-{os.getpid()}"
    name = f"walk-runc-{os.getpid()}"
    guard = CgroupGuard(parent)
    oci = Oci(tmp_path, busybox_rootfs(tmp_path / "rootfs"), parent)
    try:
        pid = oci.run(name)
        yield f"/{parent}/{name}", pid
    finally:
        oci.close()
        guard.cleanup()

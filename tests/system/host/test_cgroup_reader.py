"""CgroupReader on the real kernel: a cgroup's figures through kept descriptors, the
cgroup removed (gone from the reading) and made again under the same path (its new
figures: the kept descriptor of the old one fails with ENODEV and is reopened), an
ancestor's limit, and the descriptors of cgroups no longer asked for closed."""
from __future__ import annotations

import os

import pytest

from nsscope.host import cgroups
from nsscope.host.cgroup_reader import CgroupReader

from support import write_file


def _quota(cg, q: int) -> None:
    if cg.mode == "unified":
        write_file(cg.cpu_dir + "/cpu.max", f"{q} 100000")
    else:
        write_file(cg.cpu_dir + "/cpu.cfs_quota_us", str(q))


@pytest.mark.v2
def test_reader_follows_a_cgroup_removed_and_made_again(lab):
    parent = lab.cgroup()
    child = lab.cgroup(parent)
    parent.enable_cpu_below()
    _quota(parent, 50000)
    _quota(child, 20000)
    with CgroupReader(cgroups.hierarchies()) as reader:
        r = reader.read([child.path])
        assert r.cgroups[child.path].cpu.quota_usec == 20000
        assert r.limits[parent.path].quota_usec == 50000  # the ancestor with a quota
        kept = len(reader.files._fds)
        assert kept > 0
        for d in reversed(child.dirs):
            os.rmdir(d)
        r = reader.read([child.path])
        assert child.path not in r.cgroups
        for d in child.dirs:
            os.mkdir(d)
        _quota(child, 30000)
        r = reader.read([child.path])
        assert r.cgroups[child.path].cpu.quota_usec == 30000
        reader.read([])  # asked for nothing: every descriptor closed
        assert not reader.files._fds

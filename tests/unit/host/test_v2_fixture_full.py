"""The collector on fixtures/cgroup-v2-vm-full, a v2 tree captured in the VM.

vm/capture-fixture.py built the scene (docker scope, the three Kubernetes QoS
classes, a user slice, a pid+uts sandbox) on the Debian kernel with
cgroup_no_v1=all and copied the files; the oracle here is those files.
Fast: no VM, no root.
"""

from __future__ import annotations

import os

import pytest

from nsscope.host.collector import Roots, collect
from nsscope.host.containers import StatePaths
from nsscope.host.model import UNIFIED

from support import FIXTURES

FULL = FIXTURES / "cgroup-v2-vm-full"
ROOTS = Roots(proc=str(FULL / "proc"), cgroup=str(FULL / "sys/fs/cgroup"),
              state=StatePaths().under(str(FULL)))
DOCKER = ("/system.slice/docker-4f1c2a9e8b7d6c5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e"
          ".scope")
KUBEPODS = "/kubepods.slice"
BURSTABLE = (f"{KUBEPODS}/kubepods-burstable.slice"
             "/kubepods-burstable-pod1b2c3d4e_5f6a_7b8c_9d0e_1f2a3b4c5d6e.slice")
BESTEFFORT = (f"{KUBEPODS}/kubepods-besteffort.slice"
              "/kubepods-besteffort-pod2c3d4e5f_6a7b_8c9d_0e1f_2a3b4c5d6e7f.slice")
GUARANTEED = f"{KUBEPODS}/kubepods-pod3d4e5f6a_7b8c_9d0e_1f2a_3b4c5d6e7f8a.slice"


def _read(path: str) -> str:
    with open(path) as f:
        return f.read()


def _file(cgroup: str, name: str) -> str | None:
    path = f"{ROOTS.cgroup}{'' if cgroup == '/' else cgroup}/{name}"
    return _read(path) if os.path.exists(path) else None


def _max(text: str | None) -> int | None:
    return None if text is None or text.split()[0] == "max" else int(text.split()[0])


@pytest.fixture(scope="module")
def snap():
    return collect(ROOTS, fds=False)


def test_mode_and_the_one_hierarchy_from_self_mountinfo(snap):
    assert snap.cgroup_mode == "unified"
    (h,) = snap.hierarchies
    assert (h.key, h.version, h.mountpoint, h.root) == (UNIFIED, 2, ROOTS.cgroup, "/")
    assert h.controllers == tuple(_file("/", "cgroup.controllers").split())


def test_every_cgroup_figure_equals_its_file(snap):
    dirs = {"/"} | {"/" + os.path.relpath(d, ROOTS.cgroup)
                    for d, _, _ in os.walk(ROOTS.cgroup) if d != ROOTS.cgroup}
    assert set(snap.cgroups) == dirs
    for path, cg in snap.cgroups.items():
        stat = dict(line.split() for line in _file(path, "cpu.stat").splitlines())
        assert cg.cpu.usage_usec == int(stat["usage_usec"])
        # nr_throttled and throttled_usec appear where the cpu controller is enabled
        assert cg.cpu.nr_throttled == (int(stat["nr_throttled"]) if "nr_throttled" in stat
                                       else None)
        assert cg.cpu.throttled_usec == (int(stat["throttled_usec"]) if "throttled_usec" in stat
                                         else None)
        assert cg.procs == tuple(sorted(int(x) for x in _file(path, "cgroup.procs").split()))
        if (cpu_max := _file(path, "cpu.max")) is not None:
            assert cg.cpu.quota_usec == _max(cpu_max)
            assert cg.cpu.period_usec == int(cpu_max.split()[1])
        if (weight := _file(path, "cpu.weight")) is not None:
            assert cg.cpu.weight == int(weight)
        if (mem_max := _file(path, "memory.max")) is not None:
            assert cg.memory.max == _max(mem_max)
            assert cg.memory.current == int(_file(path, "memory.current"))
        if (pids_max := _file(path, "pids.max")) is not None:
            assert cg.pids.max == _max(pids_max)
            assert cg.pids.current == int(_file(path, "pids.current"))


def test_the_scene_limits_and_throttling(snap):
    cg = snap.cgroups
    docker = cg[DOCKER]
    assert docker.cpu.limit_cpus == 0.2 and docker.memory.max == 64 << 20
    assert docker.pids.max == 100 and docker.procs == (1001, 1002)
    assert cg[BURSTABLE].cpu.limit_cpus == 0.5
    assert cg[GUARANTEED].cpu.limit_cpus == 0.25 and cg[GUARANTEED].memory.max == 96 << 20
    assert cg[BESTEFFORT].cpu.weight == 1 and cg[BESTEFFORT].cpu.limit_cpus is None
    # busy processes under a quota were throttled; the idle BestEffort one never ran out
    for path in (DOCKER, BURSTABLE, GUARANTEED):
        assert cg[path].cpu.nr_throttled > 0, path
    assert cg[BESTEFFORT].cpu.nr_throttled == 0
    # a v2 parent's usage includes its children's (cgroup-v2.rst, cpu.stat)
    assert cg[KUBEPODS].cpu.usage_usec >= sum(
        cg[p].cpu.usage_usec for p in (BURSTABLE, BESTEFFORT, GUARANTEED))


def test_processes_sit_in_the_cgroup_their_proc_file_names(snap):
    assert sorted(snap.processes) == [1, *range(1000, 1009)]
    for pid, p in snap.processes.items():
        line = _read(f"{ROOTS.proc}/{pid}/cgroup")
        assert line == f"0::{p.cgroups[UNIFIED]}\n"
        assert pid in snap.cgroups[p.cgroups[UNIFIED]].procs


def test_the_sandbox_pid_and_uts_namespaces(snap):
    def ino(pid: int, link: str) -> int:
        text = os.readlink(f"{ROOTS.proc}/{pid}/ns/{link}")  # "pid:[4026532157]"
        return int(text[text.index("[") + 1:-1])

    unsharer, init = snap.processes[1007], snap.processes[1008]
    for p in (unsharer, init):
        for link in p.ns:
            assert p.ns[link] == ino(p.pid, link)
    # 1007 unshared: its children get the new pid namespace, it keeps the host's
    assert unsharer.ns["pid"] == snap.host_ns["pid"] != unsharer.ns["pid_for_children"]
    assert init.ns["pid"] == unsharer.ns["pid_for_children"]
    assert unsharer.ns["uts"] == init.ns["uts"] != snap.host_ns["uts"]
    assert "NSpid:\t1008\t1\n" in _read(f"{ROOTS.proc}/1008/status")
    new_pid_ns = snap.namespaces[init.ns["pid"]]
    assert new_pid_ns.type == "pid" and new_pid_ns.pids == (1008,)

"""cgroup readers on the real cgroup-v2 tree captured in a VM, and their parsers."""

from __future__ import annotations

import os

from nsscope.host import cgroups
from nsscope.host.collector import Roots, collect
from nsscope.host.model import UNIFIED

from support import V2_FIXTURE, read_file, run_nsscope

V2 = Roots(proc=str(V2_FIXTURE / "proc"), cgroup=str(V2_FIXTURE / "sys/fs/cgroup"))
DOCKER = ("/system.slice/docker-4f1c2a9e8b7d6c5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e"
          ".scope")


def test_v2_fixture_mode_and_hierarchy():
    snap = collect(V2)
    assert snap.cgroup_mode == "unified"
    assert [h.key for h in snap.hierarchies] == [UNIFIED]
    assert "cpu" in snap.hierarchies[0].controllers


def test_v2_fixture_figures_equal_the_files():
    snap = collect(V2)
    for path, cg in snap.cgroups.items():
        d = V2.cgroup + ("" if path == "/" else path)
        stat = dict(line.split() for line in read_file(d + "/cpu.stat").splitlines())
        assert cg.cpu.usage_usec == int(stat["usage_usec"])
        assert cg.cpu.nr_throttled == int(stat["nr_throttled"])
        assert cg.cpu.throttled_usec == int(stat["throttled_usec"])
        assert cg.procs == tuple(sorted(int(x) for x in read_file(d + "/cgroup.procs").split()))
        if os.path.exists(d + "/cpu.max"):
            quota, period = read_file(d + "/cpu.max").split()
            assert cg.cpu.quota_usec == (None if quota == "max" else int(quota))
            assert cg.cpu.period_usec == int(period)
        if os.path.exists(d + "/memory.max"):
            m = read_file(d + "/memory.max").strip()
            assert cg.memory.max == (None if m == "max" else int(m))
            assert cg.memory.current == int(read_file(d + "/memory.current"))
        if os.path.exists(d + "/cpu.pressure"):
            some = read_file(d + "/cpu.pressure").splitlines()[0].split()
            assert cg.cpu.pressure.some_avg10 == float(some[1].split("=")[1])
    docker = snap.cgroups[DOCKER]
    assert docker.cpu.limit_cpus == 0.2
    assert docker.memory.max == 64 * 1024 * 1024 and docker.pids.max == 100
    assert docker.cpu.nr_throttled > 0


def test_v2_fixture_processes_map_to_their_cgroups():
    snap = collect(V2)
    for pid, p in snap.processes.items():
        path = p.cgroups[UNIFIED]
        assert pid in snap.cgroups[path].procs


def test_tree_cgroups_json_on_the_fixture():
    import json
    out = run_nsscope("--proc", V2.proc, "--cgroup-root", V2.cgroup, "tree", "--cgroups",
                      "--json", check=True)
    data = json.loads(out.stdout)
    assert data["mode"] == "unified"

    def find(nodes, path):
        for n in nodes:
            if n["path"] == path:
                return n
            hit = find(n["children"], path)
            if hit:
                return hit
    docker = find(data["cgroups"], DOCKER)
    assert docker["cpu"]["quota_usec"] == 20000 and docker["pids"]["max"] == 100
    assert docker["procs"] == [109, 110]


def test_v1_parsers_units():
    # v1 throttled_time is in ns and cpuacct.usage in ns; both normalised to µs
    assert cgroups.parse_cpu_max("max 100000") == (None, 100000)
    assert cgroups.parse_cpu_max("20000 50000") == (20000, 50000)
    p = cgroups.parse_pressure("some avg10=1.50 avg60=0.20 avg300=0.00 total=123\n"
                               "full avg10=0.00 avg60=0.00 avg300=0.00 total=7\n")
    assert (p.some_avg10, p.some_total, p.full_total) == (1.5, 123, 7)


def test_mode_detection_matches_statfs_and_mounts():
    mode = cgroups.detect_mode()
    with open("/proc/self/mountinfo") as f:
        mounts = [line.split(" - ")[1].split()[0] for line in f]
    if mode == "unified":
        assert "cgroup2" in mounts and "cgroup" not in mounts
    elif mode == "hybrid":
        assert "cgroup2" in mounts and "cgroup" in mounts
    elif mode == "legacy":
        assert "cgroup" in mounts

"""``nsscope top``: the real v2 tree captured in a VM, and live cgroups made here."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

from conftest import V2_FIXTURE, need_root, read_file, run_nsscope, write_file
from nsscope.host.cpu_reader import CpuReader
from nsscope.host import cgroups
from nsscope.host.collector import Roots
from nsscope.cli import top
from test_throttle import Lab, favour

V2 = Roots(proc=str(V2_FIXTURE / "proc"), cgroup=str(V2_FIXTURE / "sys/fs/cgroup"))
FIX = ("--proc", V2.proc, "--cgroup-root", V2.cgroup)
DOCKER = ("/system.slice/docker-4f1c2a9e8b7d6c5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e"
          ".scope")
POD = ("/kubepods.slice/kubepods-burstable.slice/"
       "kubepods-burstable-pod1b2c3d4e_5f6a_7b8c_9d0e_1f2a3b4c5d6e.slice")
CTR = POD + "/cri-containerd-9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e0f9a8b.scope"


def _stat(path: str) -> dict[str, int]:
    d = V2.cgroup + ("" if path == "/" else path)
    lines = read_file(d + "/cpu.stat").splitlines()
    return {k: int(v) for k, v in (line.split() for line in lines)}


def _avg10(path: str) -> float:
    d = V2.cgroup + ("" if path == "/" else path)
    return float(read_file(d + "/cpu.pressure").split()[1].split("=")[1])


# --- the captured v2 tree ------------------------------------------------------------

def test_v2_fixture_json_equals_the_files_and_marks_the_pod_limit():
    out = run_nsscope(*FIX, "top", "--json", "--interval", "0", check=True)
    data = json.loads(out.stdout)
    assert data["mode"] == "unified" and data["interval"] == 0
    by_path = {r["path"]: r for r in data["cgroups"]}
    # every cgroup of the tree, with figures equal to its files
    tree = {rel for rel, _ in cgroups.walk(V2.cgroup)}
    assert set(by_path) == tree
    for path, row in by_path.items():
        st = _stat(path)
        assert row["nr_periods"] == st["nr_periods"]
        assert row["nr_throttled"] == st["nr_throttled"]
        assert row["throttled_usec_total"] == st["throttled_usec"]
        assert row["psi_some_avg10"] == _avg10(path)
        assert row["usage_pct"] is None  # one reading: no rate
    docker = by_path[DOCKER]
    assert docker["limit_cpus"] == 0.2 and docker["container"] == "docker 4f1c2a9e8b7d"
    assert docker["throttled_pct"] == pytest.approx(100 * 83 / 84)
    assert docker["throttled_by"] is None
    pod = by_path[POD]
    assert pod["limit_cpus"] == 0.5 and pod["throttled_pct"] == pytest.approx(100 * 125 / 127)
    # the container under the pod: its own cpu.stat says 0 throttled, its pod's limit holds it
    ctr = by_path[CTR]
    assert _stat(CTR)["nr_throttled"] == 0 and ctr["limit_cpus"] is None
    assert ctr["throttled_by"] == POD and ctr["throttled_by_limit_cpus"] == 0.5
    assert ctr["throttled_by_pct"] == pytest.approx(100 * 125 / 127)
    assert ctr["container"] == "containerd 9a8b7c6d5e4f"
    for quiet in ("/user.slice", "/system.slice", "/kubepods.slice", "/"):
        assert by_path[quiet]["throttled_by"] is None and not by_path[quiet]["share"]
    # most throttled first; the marked container sorts with its pod
    order = [r["path"] for r in data["cgroups"]]
    assert order[:3] == [DOCKER, POD, CTR]


def test_v2_fixture_table_marks_the_ancestor():
    out = run_nsscope(*FIX, "top", "--interval", "0", "--throttled", check=True)
    lines = out.stdout.splitlines()
    assert lines[0].split() == list(top.HEADERS)
    assert len(lines) == 4  # three throttled rows
    ctr = next(line for line in lines if CTR in line)
    assert ctr.split()[0] == "↑98.4%" and f"throttled by ancestor {POD}, limit 0.50" in ctr
    assert lines[1].split()[0] == "98.8%" and lines[1].split()[3] == "0.20"


def test_cpu_reader_equals_build_on_the_fixture():
    hs = top.cpu_hierarchies(cgroups.hierarchies(V2.cgroup, V2.proc))
    with CpuReader(hs) as reader:
        first, second = reader.read(), reader.read()  # the second through kept descriptors
    full = cgroups.build(hs)
    assert first == second
    assert {p: (c.procs, c.cpu) for p, c in first.items()} == \
        {p: (c.procs, c.cpu) for p, c in full.items()}


# --- live ----------------------------------------------------------------------------------------

@pytest.fixture
def lab():
    need_root()
    lab = Lab()
    yield lab
    lab.close()


@pytest.mark.v2
def test_live_child_throttled_by_its_parents_limit(lab):
    parent = lab.cgroup()
    child = lab.cgroup(parent)
    parent.enable_cpu_below()
    if parent.mode == "unified":
        write_file(parent.cpu_dir + "/cpu.max", "20000 100000")
    else:
        write_file(parent.cpu_dir + "/cpu.cfs_quota_us", "20000")
    favour([parent.cpu_dir])  # limited first: a favoured busy loop must not starve the rest
    pid = lab.busy(1)
    child.add(pid)
    time.sleep(0.3)
    out = run_nsscope("top", "--json", "--interval", "1", check=True)
    rows = {r["path"]: r for r in json.loads(out.stdout)["cgroups"]}
    p, c = rows[parent.path], rows[child.path]
    assert p["limit_cpus"] == 0.2 and p["throttled_pct"] > 50
    assert 10 < p["usage_pct"] < 30 and p["usage_of_limit_pct"] > 50
    # the child's own cpu.stat shows no throttling: the parent's limit is what holds it
    assert c["throttled_pct"] in (0, None) and c["limit_cpus"] is None
    assert c["throttled_by"] == parent.path and c["throttled_by_limit_cpus"] == 0.2
    assert c["usage_pct"] > 5


@pytest.mark.v2
def test_watch_without_a_tty_prints_a_table_per_refresh(lab):
    cg = lab.cgroup()
    pid = lab.spawn(["sleep", "1000"])
    cg.add(pid)
    out = run_nsscope("top", "--watch", "--count", "2", "--interval", "0.3", check=True)
    tables = [t for t in out.stdout.split("\n\n") if t.strip()]
    assert len(tables) == 2
    for t in tables:
        lines = t.splitlines()
        assert lines[0].startswith("# ") and lines[1].split() == list(top.HEADERS)
        assert any(line.endswith(cg.path) for line in lines[2:])


@pytest.mark.v2
def test_reader_follows_cgroups_made_removed_and_made_again(lab):
    hs = top.cpu_hierarchies(cgroups.hierarchies())
    with CpuReader(hs) as reader:
        reader.read()
        cg = lab.cgroup()
        quota = (lambda q: write_file(cg.cpu_dir + "/cpu.max", f"{q} 100000")) \
            if cg.mode == "unified" else \
            (lambda q: write_file(cg.cpu_dir + "/cpu.cfs_quota_us", str(q)))
        quota(20000)
        assert reader.read()[cg.path].cpu.quota_usec == 20000
        for d in reversed(cg.dirs):
            os.rmdir(d)
        assert cg.path not in reader.read()
        # the same path again: a new kernfs node, the kept descriptors are stale (ENODEV)
        for d in cg.dirs:
            os.mkdir(d)
        quota(30000)
        assert reader.read()[cg.path].cpu.quota_usec == 30000


def test_bad_options_are_one_line():
    r = run_nsscope("top", "--json", "--watch")
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "one-shot" in r.stderr
    r = run_nsscope("top", "--interval", "-1")
    assert r.returncode == 2 and r.stderr.count("\n") == 1


def test_the_core_never_imports_textual():
    code = ("import sys, nsscope.actions.throttle, nsscope.cli.throttle, nsscope.cli.top, "
            "nsscope.host.cgroups; assert 'textual' not in sys.modules, 'textual imported'")
    subprocess.run([sys.executable, "-c", code], check=True)

"""``nsscope top`` on the real v2 tree captured in a VM; its bad options."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from nsscope.cli import top
from nsscope.host import cgroups
from nsscope.host.cpu_reader import CpuReader

from support import read_file, run_nsscope
from support.v2_fixture import DOCKER, V2

FIX = ("--proc", V2.proc, "--cgroup-root", V2.cgroup)
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


def test_bad_options_are_one_line():
    r = run_nsscope("top", "--json", "--watch")
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "one-shot" in r.stderr
    r = run_nsscope("top", "--interval", "-1")
    assert r.returncode == 2 and r.stderr.count("\n") == 1


def test_the_core_never_imports_textual():
    code = ("import sys, nsscope.actions.throttle, nsscope.cli.throttle, nsscope.cli.top, "
            "nsscope.host.cgroups; assert 'textual' not in sys.modules, 'textual imported'")
    subprocess.run([sys.executable, "-c", code], check=True)

"""``nsscope top`` on the real v2 tree captured in a VM; its bad options."""

from __future__ import annotations

import json
import pathlib
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
    assert docker["limit_cpus"] == 0.2 and docker["container"] == {
        "name": "4f1c2a9e8b7d", "runtime": "docker",
        "id": "4f1c2a9e8b7d6c5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e"}
    assert docker["throttled_pct"] == pytest.approx(100 * 83 / 84)
    assert docker["throttled_by"] is None
    pod = by_path[POD]
    assert pod["limit_cpus"] == 0.5 and pod["throttled_pct"] == pytest.approx(100 * 125 / 127)
    # the container under the pod: its own cpu.stat says 0 throttled, its pod's limit holds it
    ctr = by_path[CTR]
    assert _stat(CTR)["nr_throttled"] == 0 and ctr["limit_cpus"] is None
    assert ctr["throttled_by"] == POD and ctr["throttled_by_limit_cpus"] == 0.5
    assert ctr["throttled_by_pct"] == pytest.approx(100 * 125 / 127)
    assert ctr["container"]["runtime"] == "containerd"
    assert ctr["container"]["id"].startswith("9a8b7c6d5e4f")
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
    # the fast path and argparse alike: a word float() takes but no interval is
    for bad in ("nan", "inf", "--interval=-inf", "abc"):
        words = [bad] if bad.startswith("--") else ["--interval", bad]
        r = run_nsscope("top", *words)
        assert r.returncode == 2 and r.stderr.count("\n") == 1, (bad, r.stderr)
    r = run_nsscope("top", "--sort", "size")
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "size" in r.stderr


def test_the_core_never_imports_textual():
    code = ("import sys, nsscope.actions.throttle, nsscope.cli.throttle, nsscope.cli.top, "
            "nsscope.host.cgroups; assert 'textual' not in sys.modules, 'textual imported'")
    subprocess.run([sys.executable, "-c", code], check=True)


SCENE = pathlib.Path(__file__).resolve().parents[2] / "fixtures" / "scene-v2"
SCENE_ARGS = ("--proc", str(SCENE / "proc"), "--cgroup-root", str(SCENE / "sys/fs/cgroup"),
              "top", "--interval", "0", "--state-root", str(SCENE))


def _scene_json(*more: str) -> list[dict]:
    return json.loads(run_nsscope(*SCENE_ARGS, "-J", *more, check=True).stdout)["cgroups"]


def test_scene_containers_by_name_as_ps_knows_them():
    """issue 15: `top` names each container as `ps` does (the oracle: `ps --json` on the
    same captured host), JSON as an object, never a display string."""
    ps = json.loads(run_nsscope(*SCENE_ARGS[:4], "ps", "--json", "-a", "--state-root",
                                str(SCENE), check=True).stdout)["containers"]
    want = {c["cgroup"]: c for c in ps if not c["sandbox"]}
    got = {r["path"]: r["container"] for r in _scene_json() if r["container"]}
    assert set(want) <= set(got)
    for path, c in want.items():
        ref = got[path]
        assert ref["name"] == c["name"] and ref["id"] == c["id"]
        assert ref["runtime"] == c["runtime"]
        assert ref.get("pod") == c["pod"] and ref.get("namespace") == c["k8s_namespace"]
    names = {r["name"] for r in got.values()}
    assert {"web", "db", "batch", "api"} <= names
    text = run_nsscope(*SCENE_ARGS, check=True).stdout
    assert "batch (docker 39e06029a411)" in text
    assert "shop/api-6d8f9c7b5-x2kq9/api (containerd 77dd7b9afb87)" in text


def test_scene_memory_and_pids_equal_the_files():
    """MEM and PIDS (docker stats' columns), read from each cgroup's own files."""
    for r in _scene_json():
        d = SCENE / "sys/fs/cgroup" / r["path"].lstrip("/")
        if (d / "memory.current").exists():
            assert r["memory_bytes"] == int((d / "memory.current").read_text())
            limit = (d / "memory.max").read_text().strip()
            assert r["memory_max_bytes"] == (None if limit == "max" else int(limit))
        else:
            assert r["memory_bytes"] is None
        if (d / "pids.current").exists():
            assert r["pids_current"] == int((d / "pids.current").read_text())
    batch = next(r for r in _scene_json() if r["container"] and
                 r["container"]["name"] == "batch")
    assert (batch["memory_max_bytes"], batch["pids_max"]) == (64 << 20, 64)
    line = next(x for x in run_nsscope(*SCENE_ARGS, check=True).stdout.splitlines()
                if "batch (docker" in x)
    assert "664K/64M" in line.split() and "2/64" in line.split()


@pytest.mark.parametrize("by", top.SORTS)
def test_sort(by):
    rs = _scene_json("--sort", by)
    if by == "mem":
        figures = [r["memory_bytes"] or 0 for r in rs]
        assert figures == sorted(figures, reverse=True)
    elif by == "throttled":
        assert [r["share"] for r in rs] == sorted((r["share"] for r in rs), reverse=True)
    elif by == "name":
        named = [r["container"]["name"] for r in rs if r["container"]]
        assert rs[0]["container"] is not None and len(named) >= 5
        kube = [r for r in rs if r["container"]]
        shown = [(f"{c['namespace']}/{c['pod']}/{c['name']}" if c.get("pod") else c["name"])
                 for c in (r["container"] for r in kube)]
        assert shown == sorted(shown)
    else:  # cpu: one reading has no rate; then throttled share
        assert [r["share"] for r in rs] == sorted((r["share"] for r in rs), reverse=True)
    bad = run_nsscope(*SCENE_ARGS, "--sort", "bogus")
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1


def test_names_are_recognised_again_only_when_the_cgroups_change():
    """top --watch's cost (issue 15): the containers are recognised once, again when the
    set of cgroups changes (no sooner than ten times the last recognition's cost after
    it), and every `refresh` seconds."""
    from nsscope.host.collector import Roots
    from nsscope.host.containers.state_paths import StatePaths

    roots = Roots(proc=str(SCENE / "proc"), cgroup=str(SCENE / "sys/fs/cgroup"),
                  state=StatePaths().under(str(SCENE)))
    names = top.Names(roots, refresh=3600.0, share=0.0)
    a = frozenset({"/"})
    index = names.update(a)
    assert names.recognised == 1 and {c.name for c in index.values()} >= {"web", "batch"}
    names.update(a)
    names.update(a)
    assert names.recognised == 1  # nothing changed: nothing read again
    names.update(a | {"/new"})
    assert names.recognised == 2  # a cgroup came: recognised again
    slow = top.Names(roots, refresh=3600.0, share=1e9)
    slow.update(a)
    slow.update(a | {"/new"})
    assert slow.recognised == 1  # churn: not before 1e9 times its cost
    due = top.Names(roots, refresh=0.0, share=1e9)
    due.update(a)
    due.update(a)
    assert due.recognised == 2  # the refresh period passed (a rename)


def test_scene_io_is_io_stat_summed_over_devices():
    """IO (docker stats' BLOCK I/O): rbytes and wbytes of io.stat, every device added."""
    seen = 0
    for r in _scene_json():
        f = SCENE / "sys/fs/cgroup" / r["path"].lstrip("/") / "io.stat"
        if not f.exists():
            assert r["io_read_bytes"] is None
            continue
        rb = wb = 0
        for line in f.read_text().splitlines():
            fields = dict(x.split("=") for x in line.split()[1:])
            # a device line may carry no field ("7:7 ", the kernel's own text here)
            rb, wb = rb + int(fields.get("rbytes", 0)), wb + int(fields.get("wbytes", 0))
        assert (r["io_read_bytes"], r["io_write_bytes"]) == (rb, wb)
        seen += rb > 0
    assert seen  # some cgroup of the scene did read


def test_v1_blkio_service_bytes_summed_over_devices():
    """cgroup-v1/blkio-controller.rst's format: per device Read/Write/Sync/Async/Discard/
    Total lines, then the grand Total."""
    from nsscope.host.cgroups import io_v1
    text = ("8:0 Read 4096\n8:0 Write 8192\n8:0 Sync 8192\n8:0 Async 4096\n8:0 Discard 0\n"
            "8:0 Total 12288\n253:1 Read 100\n253:1 Write 0\n253:1 Total 100\nTotal 12388\n")
    io = io_v1("/x", read=lambda p: text if p == "/x/blkio.throttle.io_service_bytes" else None)
    assert (io.read_bytes, io.write_bytes) == (4196, 8192)
    assert io_v1("/y", read=lambda p: None) is None


def test_every_row_field_comes_from_its_own_figure():
    """rows() builds a Row positionally: each field is given its own value here, from two
    readings 2 s apart, so a figure in the wrong place shows."""
    from nsscope.host.model import Cgroup, Container, CpuStats, IoStats, MemoryStats, \
        PidsStats, Pressure

    def cpu(usage, periods, throttled, thr_usec, quota=None, avg10=None):
        return CpuStats(usage_usec=usage, nr_periods=periods, nr_throttled=throttled,
                        throttled_usec=thr_usec, quota_usec=quota, period_usec=100000,
                        pressure=None if avg10 is None else Pressure(avg10, 0.0, 0.0, 0))

    web, pod, kid = "/web", "/kube", "/kube/nsscope-throttle-42"
    before = top.Reading(10.0, {
        web: Cgroup(web, ("0",), (1, 2, 3), cpu(1_000_000, 1000, 100, 5_000_000, 20000)),
        pod: Cgroup(pod, ("0",), (), cpu(0, 100, 10, 0, 50000)),
        kid: Cgroup(kid, ("0",), (9,), cpu(0, None, None, None))})
    after = top.Reading(12.0, {
        web: Cgroup(web, ("0",), (1, 2, 3),
                    cpu(1_300_000, 1100, 140, 5_600_000, 20000, avg10=1.25),
                    MemoryStats(123456, 654321), PidsStats(7, 99), IoStats(1111, 2222)),
        pod: Cgroup(pod, ("0",), (), cpu(0, 200, 60, 0, 50000)),
        kid: Cgroup(kid, ("0",), (9,), cpu(200_000, None, None, None))})
    ctr = Container(id="c0ffee" * 10 + "c0ff", short_id="c0ffeec0ffee", name="web",
                    runtime="docker", pid=1, pids=(1, 2, 3), state="running", cgroup=web)
    got = {r.path: r for r in top.rows(after, before, {web: ctr})}
    assert got[web]._asdict() == {
        "path": web, "container": ctr, "procs": 3, "usage_pct": 15.0,
        "usage_of_limit_pct": 75.0, "limit_cpus": 0.2, "throttled_pct": 40.0,
        "throttled_ms_per_s": 300.0, "nr_periods": 1100, "nr_throttled": 140,
        "throttled_usec_total": 5_600_000, "psi_some_avg10": 1.25, "throttled_by": None,
        "throttled_by_limit_cpus": None, "throttled_by_pct": None, "throttle_pid": None,
        "memory_bytes": 123456, "memory_max_bytes": 654321, "pids_current": 7,
        "pids_max": 99, "io_read_bytes": 1111, "io_write_bytes": 2222}
    k = got[kid]
    assert (k.usage_pct, k.throttled_by, k.throttled_by_limit_cpus, k.throttled_by_pct,
            k.throttle_pid, k.container, k.procs) == (10.0, pod, 0.5, 50.0, 42, None, 1)
    assert k.share == 50.0 and got[pod].throttled_pct == 50.0

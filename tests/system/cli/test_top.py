"""``nsscope top``: the real v2 tree captured in a VM, and live cgroups made here."""

from __future__ import annotations

import json
import os
import time

import pytest

from nsscope.cli import top
from nsscope.host import cgroups
from nsscope.host.cpu_reader import CpuReader

from support import read_file, run_nsscope, write_file
from support.lab import favour


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


def test_a_container_ps_recognises_is_named_in_top(walk_runc):
    path, pid = walk_runc
    ps = json.loads(run_nsscope("ps", "--json", check=True).stdout)["containers"]
    mine = next(c for c in ps if c["pid"] == pid)  # the oracle: runc's own state, via ps
    assert mine["cgroup"] == path and mine["runtime"] == "runc"
    rows = {r["path"]: r for r in json.loads(
        run_nsscope("top", "-J", "--interval", "0", check=True).stdout)["cgroups"]}
    name = path.rsplit("/", 1)[1]
    assert rows[path]["container"] == {"name": name, "id": name, "runtime": "runc"}
    line = next(x for x in run_nsscope("top", "--interval", "0", check=True).stdout
                .splitlines() if x.endswith(path))
    assert f"{name} (runc)" in line


def _tmux(*args: str) -> str:
    import subprocess
    return subprocess.run(["tmux", *args], capture_output=True, text=True, timeout=30,
                          check=True).stdout


def test_watch_quits_on_q_and_gives_the_terminal_back():
    """`top --watch` on a real terminal (tmux): q quits at once (before --interval
    ends), status 0, and the terminal's modes are back (stty -g before and after)."""
    from support import NSSCOPE, need_root, need_tool
    need_root()
    need_tool("tmux")
    session = f"nsscope-test-top-{os.getpid()}"
    _tmux("new-session", "-d", "-s", session, "-x", "160", "-y", "40",
          f"stty -g > /tmp/{session}.before; {NSSCOPE} top --watch --interval 8; "
          f"echo TOP-EXIT=$?; stty -g > /tmp/{session}.after; sleep 600")
    try:
        deadline = time.monotonic() + 60
        while "q quits" not in _tmux("capture-pane", "-p", "-t", session):
            assert time.monotonic() < deadline, _tmux("capture-pane", "-p", "-t", session)
            time.sleep(0.2)
        t = time.monotonic()
        _tmux("send-keys", "-t", session, "q")
        while "TOP-EXIT=" not in (screen := _tmux("capture-pane", "-p", "-t", session)):
            assert time.monotonic() - t < 4, screen  # well before the next refresh
            time.sleep(0.1)
        assert "TOP-EXIT=0" in screen
        while not os.path.exists(f"/tmp/{session}.after"):
            time.sleep(0.1)
        time.sleep(0.2)
        with open(f"/tmp/{session}.before") as f, open(f"/tmp/{session}.after") as g:
            assert f.read() == g.read()
    finally:
        _tmux("kill-session", "-t", session)
        for end in ("before", "after"):
            if os.path.exists(f"/tmp/{session}.{end}"):
                os.unlink(f"/tmp/{session}.{end}")


def test_v1_memory_and_pids_of_a_cgroup_as_the_files_say(lab):
    """MEM and PIDS on this host's v1 hierarchies (issue 15): read from the same path in
    the memory and pids hierarchies, found when they appear there (a cgroup made in cpu
    first), equal to the kernel's own files."""
    cg = lab.cgroup()
    if cg.mode == "unified":
        pytest.skip("v1: the hybrid host; the unified layout is checked on the scene")
    hs = cgroups.hierarchies()
    extra = []
    for ctrl in ("memory", "pids"):
        h = next(h for h in hs if h.version == 1 and ctrl in h.controllers)
        extra.append(h.mountpoint + cg.path)
    pid = lab.spawn(["sleep", "1000"])
    cg.add(pid)
    with CpuReader(top.cpu_hierarchies(hs) + tuple(h for h in hs if h.version == 1),
                   skip=top.SKIP, memory=True, pids=True, io=True) as reader:
        first = reader.read()[cg.path]
        assert first.memory is None and first.pids is None  # not in those hierarchies yet
        try:
            for d in extra:
                os.mkdir(d)
            write_file(extra[0] + "/memory.limit_in_bytes", str(64 << 20))
            write_file(extra[1] + "/pids.max", "50")
            for d in extra:
                write_file(d + "/cgroup.procs", str(pid))
            for _ in range(12):  # found again within `reprobe` readings
                got = reader.read()[cg.path]
                if got.memory is not None:
                    break
            assert got.memory.max == 64 << 20
            usage = int(read_file(extra[0] + "/memory.usage_in_bytes"))
            assert abs(got.memory.current - usage) < 1 << 20
            assert (got.pids.current, got.pids.max) == (
                int(read_file(extra[1] + "/pids.current")), 50)
        finally:
            # the process is ours: killed (not moved to a cgroup we did not make), then
            # the cgroups we made are removed once empty
            proc = next(p for p in lab.procs if p.pid == pid)
            proc.kill()
            proc.wait()
            for d in extra:
                if os.path.isdir(d):
                    os.rmdir(d)

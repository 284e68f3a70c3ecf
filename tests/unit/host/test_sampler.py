"""nsscope.host.sampler on the captured v2 tree: the first sample equals collect(), and
unchanged processes are shared between samples.
"""

from __future__ import annotations

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from nsscope.host import collector
from nsscope.host.sampler import Sampler

from support import V2_FIXTURE

FIXTURE_ROOTS = collector.Roots(proc=str(V2_FIXTURE / "proc"),
                                cgroup=str(V2_FIXTURE / "sys/fs/cgroup"))


def test_first_sample_equals_collect_on_the_capture():
    full = collector.collect(FIXTURE_ROOTS)
    s = Sampler(FIXTURE_ROOTS)
    for _ in range(3):  # the later samples reuse what they can and still agree
        snap = s.sample()
        assert dict(snap.processes) == dict(full.processes)
        assert dict(snap.namespaces) == dict(full.namespaces)
        # members come from /proc/PID/cgroup: on the capture, the cgroup.procs
        # pids that were not captured under /proc (kernel threads) are not there
        assert snap.cgroups.keys() == full.cgroups.keys()
        for path, cg in full.cgroups.items():
            mine = snap.cgroups[path]
            assert (mine.cpu, mine.memory, mine.pids, mine.hierarchies) == \
                (cg.cpu, cg.memory, cg.pids, cg.hierarchies)
            assert mine.procs == tuple(p for p in cg.procs if p in full.processes)
        assert snap.host_ns == full.host_ns
        assert snap.cgroup_mode == full.cgroup_mode
        assert snap.containers == full.containers


def test_unchanged_processes_are_shared_between_samples():
    s = Sampler(FIXTURE_ROOTS, cycle=3600)
    a, b = s.sample(), s.sample()
    assert all(a.processes[pid] is b.processes[pid] for pid in a.processes)


# --- incremental samples against collect() on a /proc tree that changes ------------------

_LINKS = ("cgroup", "ipc", "mnt", "net", "pid", "time", "user", "uts",
          "pid_for_children", "time_for_children")
_HOST = {link: 4026531830 + i for i, link in enumerate(_LINKS[:8])}


def _write_process(proc, pid: int, ppid: int, ns: dict[str, int], comm: str = "sleep",
                   cgroup: str = "/") -> None:
    import os
    d = proc / str(pid)
    (d / "ns").mkdir(parents=True, exist_ok=True)
    # fields 3 (state) to 22 (starttime); field 9, flags, 0: not a kernel thread
    (d / "stat").write_text(f"{pid} ({comm}) S {ppid} 0 0 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 "
                            f"{1000 + pid} 0 0\n")
    (d / "cmdline").write_bytes(f"{comm}\0{pid}\0".encode())
    (d / "cgroup").write_text(f"0::{cgroup}\n")
    for link in _LINKS:
        target = d / "ns" / link
        if target.is_symlink():
            target.unlink()
        typ = link.split("_")[0]
        os.symlink(f"{typ}:[{ns[link]}]", target)


def _host_ns(**changes: int) -> dict[str, int]:
    ns = {**_HOST, "pid_for_children": _HOST["pid"], "time_for_children": _HOST["time"]}
    ns.update(changes)
    return ns


_OPS = st.lists(st.one_of(
    st.tuples(st.just("add"), st.integers(2, 40), st.sampled_from(
        ["", "uts", "net", "mnt", "pid_for_children", "user"]), st.integers(0, 2)),
    st.tuples(st.just("remove"), st.integers(2, 40)),
    st.tuples(st.just("change"), st.integers(2, 40), st.sampled_from(_LINKS),
              st.integers(0, 2)),
    st.tuples(st.just("move"), st.integers(2, 40), st.sampled_from(["/a", "/b", "/"])),
), min_size=1, max_size=12)


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(_OPS)
@example([("add", 5, "uts", 0), ("remove", 5)])
@example([("add", 5, "pid_for_children", 1), ("add", 3, "", 0), ("change", 5, "uts", 2)])
def test_incremental_samples_agree_with_collect(tmp_path_factory, ops):
    """After processes come, go, join other namespaces or move cgroups (an action's
    refresh names the changed ones), each sample equals a full collect() of the same
    tree: processes, every namespace with its members and holders, cgroup members,
    hidden pids, containers and sandboxes."""
    import shutil
    tree = tmp_path_factory.mktemp("proc-tree")
    proc, cg = tree / "proc", tree / "cgroup"
    for d in (proc, cg / "a", cg / "b"):
        d.mkdir(parents=True)
    (proc / "uptime").write_text("100.0 100.0\n")
    # one cgroup2 hierarchy (mountinfo.cgroup_mounts falls back to /proc/mounts)
    (proc / "mounts").write_text("cgroup2 /sys/fs/cgroup cgroup2 rw,nosuid 0 0\n")
    _write_process(proc, 1, 0, _host_ns(), comm="init")
    roots = collector.Roots(proc=str(proc), cgroup=str(cg))
    now = [0.0]
    s = Sampler(roots, cycle=3600, settle=0.0, clock=lambda: now[0])
    for op in [("add", 2, "", 0), *ops]:
        kind, pid = op[0], op[1]
        exists = (proc / str(pid)).exists()
        if kind == "add" and not exists:
            typ, k = op[2], op[3]
            ns = _host_ns(**({typ: 4026532000 + 10 * pid + k} if typ else {}))
            _write_process(proc, pid, 1, ns)
        elif kind == "remove" and exists:
            shutil.rmtree(proc / str(pid))
        elif kind == "change" and exists:
            link, k = op[2], op[3]
            p = s.last.processes.get(pid) if s.last else None
            ns = dict(p.ns) if p is not None else _host_ns()
            ns[link] = 4026533000 + 10 * pid + k
            _write_process(proc, pid, 1, ns)
            s.refresh([pid])
        elif kind == "move" and exists:
            p = s.last.processes.get(pid) if s.last else None
            _write_process(proc, pid, 1, dict(p.ns) if p is not None else _host_ns(),
                           cgroup=op[2])
            s.refresh([pid])
        now[0] += 1.0
        snap = s.sample()
        full = collector.collect(roots)
        assert dict(snap.processes) == dict(full.processes)
        assert list(snap.processes) == sorted(snap.processes)
        assert dict(snap.namespaces) == dict(full.namespaces)
        # members from /proc/PID/cgroup (collect reads cgroup.procs, which this tree lacks)
        members: dict[str, list[int]] = {}
        for p in full.processes.values():
            for path in set(p.cgroups.values()):
                members.setdefault(path, []).append(p.pid)
        assert snap.cgroups.keys() == full.cgroups.keys() == {"/", "/a", "/b"}
        assert {path: cg.procs for path, cg in snap.cgroups.items()} == \
            {path: tuple(sorted(members.get(path, ()))) for path in full.cgroups}
        assert (snap.hidden, snap.host_ns) == (full.hidden, full.host_ns)
        assert snap.containers == full.containers


def test_a_slow_recognition_is_timed_on_the_samplers_clock(tmp_path, monkeypatch):
    """Recognition waits twenty times its own cost before it runs again, timed on the
    sampler's clock as its ``now`` is: on a loaded machine (CI) a real 60 ms against a
    test's clock that steps 1 s put a new sandbox a sample late."""
    import time

    from nsscope.host import sampler as sampler_module

    proc, cg = tmp_path / "proc", tmp_path / "cgroup"
    for d in (proc, cg):
        d.mkdir()
    (proc / "uptime").write_text("100.0 100.0\n")
    (proc / "mounts").write_text("cgroup2 /sys/fs/cgroup cgroup2 rw,nosuid 0 0\n")
    _write_process(proc, 1, 0, _host_ns(), comm="init")
    find = sampler_module.containers.find

    def slow_find(*args, **kwargs):
        time.sleep(0.1)  # a loaded machine
        return find(*args, **kwargs)

    monkeypatch.setattr(sampler_module.containers, "find", slow_find)
    now = [0.0]
    s = Sampler(collector.Roots(proc=str(proc), cgroup=str(cg)), cycle=3600, settle=0.0,
                clock=lambda: now[0])
    s.sample()
    _write_process(proc, 16, 1, _host_ns(net=4026532162))
    now[0] += 1.0
    assert [c.name for c in s.sample().containers] == ["sandbox-16"]

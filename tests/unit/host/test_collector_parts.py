"""collect() asked for the parts a view shows reads only those, and they are the
parts a full collect() has (the oracle), on every captured tree."""
from __future__ import annotations

import pytest

from nsscope.host.collector import Roots, collect
from nsscope.host.containers import StatePaths

from support import FIXTURES

TREES = sorted(p.name for p in FIXTURES.iterdir() if (p / "proc").is_dir())


def _roots(name: str) -> Roots:
    tree = FIXTURES / name
    return Roots(proc=str(tree / "proc"), cgroup=str(tree / "sys/fs/cgroup"),
                 state=StatePaths().under(str(tree)))


@pytest.mark.parametrize("name", TREES)
def test_ls_parts_are_the_full_snapshots(name):
    roots = _roots(name)
    full = collect(roots)
    # ls: no cgroup read (nor /proc/PID/cgroup), no container
    snap = collect(roots, cgroups=False, containers=False)
    assert dict(snap.namespaces) == dict(full.namespaces)
    assert {pid: p._replace(cgroups={}) for pid, p in full.processes.items()} == \
        dict(snap.processes)
    assert (snap.cgroups, snap.containers, snap.hierarchies) == ({}, (), ())
    # ls without -p: of the processes, only those its rows name
    lean = collect(roots, cgroups=False, containers=False, leaders_only=True)
    assert dict(lean.namespaces) == dict(full.namespaces)
    assert (lean.hidden, lean.host_ns) == (full.hidden, full.host_ns)
    leaders = {ns.pids[0] for ns in full.namespaces.values() if ns.pids}
    assert lean.processes.keys() == \
        leaders | ({1, 2} & full.processes.keys()) | set(full.hidden)
    for pid, p in lean.processes.items():
        assert p == full.processes[pid]._replace(cgroups={})
    with pytest.raises(ValueError):
        collect(roots, leaders_only=True)


@pytest.mark.parametrize("name", TREES)
def test_ps_and_show_parts_are_the_full_snapshots(name):
    roots = _roots(name)
    full = collect(roots)
    ps = collect(roots, namespaces=False, cgroups=False)
    assert ps.containers == full.containers
    assert dict(ps.processes) == dict(full.processes)
    assert (dict(ps.namespaces), dict(ps.cgroups)) == ({}, {})
    for pid, p in full.processes.items():
        show = collect(roots, fds=False, netnsid=False, cgroups=False, cgroups_of=pid)
        assert show.containers == full.containers
        assert dict(show.cgroups) == {path: full.cgroups[path] for path in
                                      set(p.cgroups.values()) if path in full.cgroups}
        assert show.cgroup_mode == full.cgroup_mode
        for ino in p.ns.values():
            assert show.namespaces.get(ino) == full.namespaces.get(ino)

"""nsscope.host.sampler on the captured v2 tree: the first sample equals collect(), and
unchanged processes are shared between samples.
"""

from __future__ import annotations

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

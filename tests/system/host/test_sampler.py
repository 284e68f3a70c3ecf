"""nsscope.host.sampler: incremental snapshots agree with a full collect()."""

from __future__ import annotations

import subprocess
import sys

from nsscope.host import collector
from nsscope.host.sampler import Sampler

from support import need_root, need_tool
from support.scenario import Scenario, ns_ino, wait_for


def test_live_processes_and_namespaces_come_and_go():
    need_root()
    need_tool("unshare")
    s = Sampler(cycle=3600, settle=0.0)  # no periodic refresh: the incremental path
    s.sample()
    sc = Scenario()
    try:
        pid = sc.unshare("--uts", "--ipc")
        snap = wait_for(lambda: (lambda x: x if pid in x.processes else None)(s.sample()),
                        what="the new process in a sample")
        uts = ns_ino(pid, "uts")
        assert snap.processes[pid].ns["uts"] == uts
        assert uts in snap.namespaces and pid in snap.namespaces[uts].pids
        # a new namespace triggers a graph walk: its owner is known (NS_GET_USERNS)
        assert snap.namespaces[uts].owner == snap.host_ns["user"]
        full = collector.collect()
        mine, theirs = snap.processes[pid], full.processes[pid]
        assert (mine.ns, mine.cgroups, mine.comm, mine.starttime) == \
            (theirs.ns, theirs.cgroups, theirs.comm, theirs.starttime)
        # membership agrees with the kernel's cgroup.procs (collect reads those)
        for path in set(full.processes[pid].cgroups.values()):
            assert pid in snap.cgroups[path].procs and pid in full.cgroups[path].procs
    finally:
        sc.close()
    snap = wait_for(lambda: (lambda x: x if pid not in x.processes else None)(s.sample()),
                    what="the process gone from a sample")
    assert uts not in snap.namespaces


def test_refresh_rereads_a_changed_process():
    need_root()
    s = Sampler(cycle=3600)
    # only a process itself may write its comm (proc_pid_comm_write: EINVAL otherwise)
    code = ("import sys\nsys.stdin.readline()\n"
            "open('/proc/self/comm', 'w').write('nsscope-renamed')\n"
            "print('renamed', flush=True)\nsys.stdin.readline()\n")
    p = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, text=True)
    try:
        before = wait_for(lambda: s.sample().processes.get(p.pid), what="it in a sample")
        s.sample()  # a newcomer is read once more the next time; past that it is known
        p.stdin.write("go\n")
        p.stdin.flush()
        assert p.stdout.readline().strip() == "renamed"
        # a known pid is not re-read every time...
        assert s.sample().processes[p.pid].comm == before.comm != "nsscope-renamed"
        # ...until an action says it changed
        s.refresh([p.pid])
        assert s.sample().processes[p.pid].comm == "nsscope-renamed"
    finally:
        p.kill()
        p.wait()
        p.stdin.close()
        p.stdout.close()

"""What serve does to itself before it listens: the host's cgroup namespace joined when
started in one of its own (as a pod on a cgroup v2 node is), refused in one line without
CAP_SYS_ADMIN, and only CAP_SYS_PTRACE and CAP_DAC_READ_SEARCH kept."""
from __future__ import annotations

import os
import subprocess
import uuid

import pytest

from nsscope.host import cgroups

from support import NSSCOPE, need_root, need_tool, read_file, status_field
from support.metrics import RuncPod, Serve, remove_tree, series, value


@pytest.fixture
def own_cgroup():
    """A cgroup of the test's in every hierarchy with a controller (but cpuset): a process
    moved there and unsharing its cgroup namespace sees the host's paths as "/../…"."""
    need_root()
    top = f"/nsscope-test-{uuid.uuid4().hex[:8]}"
    dirs = [h.mountpoint + top + "/serve" for h in cgroups.hierarchies()
            if h.version == 2 or (h.controllers and "cpuset" not in h.controllers)]
    for d in dirs:
        os.makedirs(d)
    yield dirs
    remove_tree(top)


def _in_own_cgroupns(dirs: list[str], *argv: str) -> list[str]:
    """argv run from ``dirs`` in a cgroup namespace of its own (unshare -C)."""
    moves = "; ".join(f"echo $$ > {d}/cgroup.procs" for d in dirs)
    return ["sh", "-c", f'{moves}; exec "$@"', "sh", need_tool("unshare"), "-C", *argv]


@pytest.mark.v2
def test_it_joins_the_hosts_cgroup_namespace(own_cgroup, tmp_path):
    pod = RuncPod(tmp_path)
    try:
        s = Serve(where=tmp_path, argv=_in_own_cgroupns(
            own_cgroup, NSSCOPE, "serve", "--listen", "127.0.0.1:0",
            "--state-prefix", str(pod.state)))
        try:
            pid = s.proc.pid
            # it started in its own namespace, where the host's paths read "/../…"; it is
            # in the host's now (kthreadd's: kernel threads are in the initial ones)
            assert os.readlink(f"/proc/{pid}/ns/cgroup") == os.readlink("/proc/2/ns/cgroup")
            ss = series(s.scrape())
            # the host's paths, not "/../…": the container found with its real cgroup
            assert value(ss, "container_processes", id=pod.cgroup, container="app") == 1
            assert not [lab for lab, _ in ss["nsscope_container_info"]
                        if "/.." in lab.get("id", "")]
        finally:
            assert s.stop() == 0
    finally:
        pod.close()


@pytest.mark.v2
def test_without_cap_sys_admin_it_refuses_in_one_line(own_cgroup):
    need_tool("setpriv")
    out = subprocess.run(_in_own_cgroupns(own_cgroup, "setpriv", "--bounding-set", "-sys_admin",
                                          NSSCOPE, "serve", "--listen", "127.0.0.1:0"),
                         capture_output=True, text=True, timeout=60, check=False)
    assert out.returncode == 1
    assert out.stderr.count("\n") == 1 and out.stderr.startswith(
        "nsscope: serve: in a cgroup namespace of its own"), out.stderr
    assert "CAP_SYS_ADMIN" in out.stderr and "Traceback" not in out.stderr


@pytest.mark.v2
def test_it_keeps_only_the_capabilities_it_reads_with(tmp_path):
    need_root()
    s = Serve(where=tmp_path)
    try:
        st = read_file(f"/proc/{s.proc.pid}/status")
        # CAP_DAC_READ_SEARCH (2) and CAP_SYS_PTRACE (19), nothing else, in either set
        assert status_field(st, "CapEff") == status_field(st, "CapPrm") == "0000000000080004"
        assert s.get("/healthz")[0] == 200
    finally:
        assert s.stop() == 0

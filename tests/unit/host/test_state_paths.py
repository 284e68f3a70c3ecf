"""StatePaths under a prefix (a captured tree, or /host in serve's DaemonSet pod): the
defaults and the paths host processes announce are both read under it."""
from __future__ import annotations

from types import MappingProxyType

from nsscope.host.containers import StatePaths
from nsscope.host.containers.state_paths import discover
from nsscope.host.model import Process, Snapshot


def proc(pid: int, *argv: str) -> Process:
    return Process(pid=pid, ppid=1, uid=0, comm=argv[0].rsplit("/", 1)[-1], cmdline=argv,
                   state="S", starttime=pid, kernel_thread=False, ns={}, cgroups={})


def snapshot(*ps: Process) -> Snapshot:
    return Snapshot(processes=MappingProxyType({p.pid: p for p in ps}), namespaces={},
                    cgroups={}, cgroup_mode="unified", hierarchies=(), host_ns={}, uptime=1.0)


def test_host_paths_under_a_prefix():
    here, pod = StatePaths(), StatePaths().under("/host/")
    assert here.host("/var/lib/docker-data") == "/var/lib/docker-data"
    assert pod.prefix == "/host" and pod.host("/var/lib/docker-data") == "/host/var/lib/docker-data"
    assert pod.docker == ("/host/var/lib/docker",) and pod.host("relative") == "relative"


def test_announced_paths_are_read_under_the_prefix():
    snap = snapshot(proc(10, "/usr/bin/dockerd", "--data-root", "/srv/docker"),
                    proc(11, "[lxc monitor] /srv/lxc web"))
    ctx = discover(snap, "/proc", StatePaths().under("/host"))
    assert ctx.docker_roots == ["/host/var/lib/docker", "/host/srv/docker"]
    assert ctx.lxc_paths == ["/host/var/lib/lxc", "/host/srv/lxc"]
    ctx = discover(snap, "/proc", StatePaths())
    assert ctx.docker_roots == ["/var/lib/docker", "/srv/docker"]

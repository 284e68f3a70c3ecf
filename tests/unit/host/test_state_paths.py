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


def test_podmans_graph_roots_under_the_prefix(tmp_path):
    """podman's graph roots (podman_state.graph_roots): the defaults, storage.conf's
    graphroot, and a conmon's bundle and exit command --root (as podman 4.3 runs it:
    tests/system/cli/test_ps.py finds a temp root this way), all under the prefix."""
    from nsscope.host.containers.podman_state import graph_roots
    conf = tmp_path / "etc/containers/storage.conf"
    conf.parent.mkdir(parents=True)
    conf.write_text('[storage]\ndriver = "overlay"\n# graphroot = "/commented"\n'
                    'graphroot = "/srv/containers" # the big disk\n'
                    '[storage.options]\ngraphroot = "/not/this/table"\n')
    conmon = proc(20, "/usr/bin/conmon", "--api-version", "1", "-c", "ab" * 32, "-n", "web",
                  "-b", f"/srv/pm/overlay-containers/{'ab' * 32}/userdata",
                  "--exit-command", "/usr/bin/podman", "--exit-command-arg", "--root",
                  "--exit-command-arg", "/srv/pm", "--exit-command-arg", "--runroot",
                  "--exit-command-arg", "/run/pm")
    elsewhere = proc(21, "/usr/bin/conmon", "-b", f"/other/vfs-containers/{'cd' * 32}/userdata")
    paths = StatePaths().under(str(tmp_path))
    assert graph_roots(snapshot(conmon, elsewhere), paths) == [
        f"{tmp_path}/var/lib/containers/storage", f"{tmp_path}/run/containers/storage",
        f"{tmp_path}/srv/containers", f"{tmp_path}/srv/pm", f"{tmp_path}/other"]
    no_conf = StatePaths()._replace(containers_storage_conf=str(tmp_path / "none"))
    assert graph_roots(snapshot(), no_conf) == ["/var/lib/containers/storage",
                                                "/run/containers/storage"]

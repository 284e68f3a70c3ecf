"""Where runtimes keep their state (``StatePaths``, every default the runtime's own),
and what a snapshot adds to it: the paths running daemons announce (``discover``).
"""

from __future__ import annotations

from nsscope.host.containers.files import basename, option, read_json
from nsscope.records import Record

TYPE_CHECKING = False
if TYPE_CHECKING:
    from nsscope.host.model import Snapshot


class StatePaths(Record):
    """Where runtimes keep their state; every default is the runtime's own.

    Paths a running daemon announces on its command line (dockerd
    ``--data-root``, conmon ``-b``, the lxc monitor's lxcpath, a shim's bundle
    as its cwd) are found from the snapshot in addition to these.
    """

    #: dockerd --data-root default (docker/daemon/config: defaultDataRoot)
    docker: tuple[str, ...] = ("/var/lib/docker",)
    docker_config: str = "/etc/docker/daemon.json"
    #: containers/storage graphroot (storage.conf), shared by podman and CRI-O
    containers_storage: tuple[str, ...] = ("/var/lib/containers/storage",
                                           "/run/containers/storage")
    #: containers-storage.conf(5): its [storage] graphroot is podman's (ps -a reads
    #: podman's state database under it: podman_state.py)
    containers_storage_conf: str = "/etc/containers/storage.conf"
    #: containerd state dirs: the system one (containerd defaults.DefaultStateDir)
    #: and dockerd's managed one (<exec-root>/containerd/daemon)
    containerd: tuple[str, ...] = ("/run/containerd", "/run/docker/containerd/daemon")
    #: runc --root default for root (runc main.go: root = "/run/runc")
    runc: tuple[str, ...] = ("/run/runc",)
    #: crun's state dir for root (crun src/libcrun/status.c: "/run/crun")
    crun: tuple[str, ...] = ("/run/crun",)
    #: lxc.lxcpath default (lxc configure: LXCPATH = /var/lib/lxc)
    lxc: tuple[str, ...] = ("/var/lib/lxc",)
    #: nsscope run's state: <dir>/containers/<id>/state.json (nsscope/actions/run/state.py)
    nsscope: tuple[str, ...] = ("/run/nsscope",)
    #: kubelet pod logs (pkg/kubelet/kuberuntime/helpers.go BuildPodLogsDirectory:
    #: <root>/<namespace>_<pod name>_<pod uid>/<container>/<n>.log)
    pod_logs: str = "/var/log/pods"
    #: kubelet container log symlinks (kuberuntime_container.go logSymlink:
    #: <pod>_<namespace>_<container>-<container id>.log)
    container_logs: str = "/var/log/containers"
    #: where the host's / is for this reader ("" on the host; ``under`` sets it): a
    #: captured tree, or /host in nsscope serve's DaemonSet pod
    prefix: str = ""

    def host(self, path: str) -> str:
        """Where this reader finds a host path that a host process names (dockerd's
        --data-root, a shim's working directory, conmon's bundle, the lxc monitor's path):
        under ``prefix``, as every default above."""
        return self.prefix.rstrip("/") + path if self.prefix and path.startswith("/") else path

    def under(self, prefix: str) -> StatePaths:
        """The same layout inside a captured tree rooted at ``prefix``."""
        def re_root(value: str | tuple[str, ...]) -> str | tuple[str, ...]:
            if isinstance(value, tuple):
                return tuple(prefix.rstrip("/") + v for v in value)
            return prefix.rstrip("/") + value
        return StatePaths(*(re_root(value) for value in self))  # type: ignore[arg-type]


# --- what the snapshot says about runtime state locations -----------------------

class Context:
    """What one ``find()`` learns once and its readers share."""

    __slots__ = ("children", "docker_roots", "frozen", "limits", "lxc_paths", "paths", "proc",
                 "snap")

    def __init__(self, snap: Snapshot, proc: str, paths: StatePaths) -> None:
        self.snap = snap
        self.proc = proc
        self.paths = paths
        self.docker_roots: list[str] = list(paths.docker)
        self.lxc_paths: list[str] = list(paths.lxc)
        #: ppid -> pids
        self.children: dict[int, list[int]] = {}
        #: cgroup path -> CPU limit / frozen, read once per find()
        self.limits: dict[str, float | None] = {}
        self.frozen: dict[str, bool] = {}


def discover(snap: Snapshot, proc: str, paths: StatePaths) -> Context:
    ctx = Context(snap, proc, paths)
    conf = read_json(paths.docker_config)
    if isinstance(conf, dict) and isinstance(conf.get("data-root"), str):
        ctx.docker_roots.append(paths.host(conf["data-root"]))
    for p in snap.processes.values():
        ctx.children.setdefault(p.ppid, []).append(p.pid)
        if not p.cmdline:
            continue
        prog = basename(p.cmdline[0])
        if prog == "dockerd":
            # dockerd --data-root (older: -g/--graph) (moby cmd/dockerd/config.go)
            root = option(p.cmdline, "--data-root", "-g", "--graph")
            if root:
                ctx.docker_roots.append(paths.host(root))
        elif p.cmdline[0].startswith("[lxc monitor]"):
            # the monitor retitles itself "[lxc monitor] <lxcpath> <name>"
            # (lxc src/lxc/lxccontainer.c do_lxcapi_start, setproctitle)
            import re  # only where an lxc monitor runs: re is ~8 ms of `nsscope ps`
            m = re.match(r"^\[lxc monitor\] (.+) (\S+)$", " ".join(p.cmdline))
            if m:
                ctx.lxc_paths.append(paths.host(m.group(1)))
    return ctx



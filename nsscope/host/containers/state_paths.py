"""Where runtimes keep their state (``StatePaths``, every default the runtime's own),
and what a snapshot adds to it: the paths running daemons announce (``discover``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from nsscope.host.containers.files import basename, option, read_json
from nsscope.host.model import Snapshot


@dataclass(frozen=True)
class StatePaths:
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
        def re_root(value: Any) -> Any:
            if isinstance(value, tuple):
                return tuple(prefix.rstrip("/") + v for v in value)
            return prefix.rstrip("/") + value
        return StatePaths(**{f: re_root(getattr(self, f)) for f in self.__dataclass_fields__})


# --- what the snapshot says about runtime state locations -----------------------

@dataclass
class Context:
    snap: Snapshot
    proc: str
    paths: StatePaths
    docker_roots: list[str] = field(default_factory=list)
    lxc_paths: list[str] = field(default_factory=list)
    children: dict[int, list[int]] = field(default_factory=dict)
    #: cgroup path -> CPU limit / frozen, read once per find()
    limits: dict[str, float | None] = field(default_factory=dict)
    frozen: dict[str, bool] = field(default_factory=dict)


def discover(snap: Snapshot, proc: str, paths: StatePaths) -> Context:
    ctx = Context(snap, proc, paths, docker_roots=list(paths.docker), lxc_paths=list(paths.lxc))
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
            m = re.match(r"^\[lxc monitor\] (.+) (\S+)$", " ".join(p.cmdline))
            if m:
                ctx.lxc_paths.append(paths.host(m.group(1)))
    return ctx



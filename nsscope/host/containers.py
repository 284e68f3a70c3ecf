"""Containers: which runtime made each isolated process, and under what name.

No daemon API is asked. A container is recognised from what the kernel shows
(the cgroup path of its processes, their namespaces, their parent: a
containerd shim or conmon) plus the runtime's own state files, read where the
runtime keeps them. Every path pattern below cites the runtime source that
makes it. Processes isolated by no known runtime (an ``unshare`` session,
bwrap, firejail, a browser sandbox) are grouped into *sandboxes* by their
namespaces, so nothing isolated is invisible.

``find`` is pure: it reads a ``Snapshot`` and files under injectable roots
(``StatePaths.under(prefix)`` for a captured tree), and changes nothing.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field, replace
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from nsscope.host import cgroups
from nsscope.errors import BadInput, NsscopeError
from nsscope.host.model import NS_TYPES, UNIFIED, CpuStats, Hierarchy, Process, Snapshot
from nsscope.kernel.abi import PROC
from nsscope.host import runstate

if TYPE_CHECKING:
    from nsscope.host.targets import Target

#: the namespaces a container normally has of its own: sharing one of them with
#: the host (``docker run --network host``) is worth showing
ISOLATING: tuple[str, ...] = ("pid", "net", "ipc", "uts", "mnt")


@dataclass(frozen=True)
class Container:
    """One container (or sandbox) on the host, as nsscope recognised it."""

    #: the runtime's id (64 hex for docker/podman/CRI); the name for runc/crun/lxc/
    #: nspawn; a namespace inode for a sandbox
    id: str
    short_id: str
    name: str
    #: docker, podman, containerd, cri-o, kubernetes, lxc, systemd-nspawn,
    #: machined, runc, crun, nsscope; for sandboxes unshare, bwrap, firejail or sandbox
    runtime: str
    #: the main process: the container's init (lowest starttime among the
    #: processes whose parent is outside the container)
    pid: int | None
    pids: tuple[int, ...]
    #: running, or paused (cgroup freezer); for nsscope run's own containers that
    #: are not running (``ps -a``): stopped, or creating
    state: str
    #: the cgroup path that names the container (where its runtime put it)
    cgroup: str | None
    #: the CPU quota that binds it, in CPUs (the tightest over the cgroup and its
    #: ancestors: CFS bandwidth is hierarchical, sched-bwc.rst); None = unlimited
    cpu_limit: float | None = None
    #: namespace types the main process shares with the host (pid 1 / kthreadd)
    shares_host: tuple[str, ...] = ()
    image: str | None = None
    rootfs: str | None = None
    #: Kubernetes: pod name, namespace, uid and QoS class, where known
    pod: str | None = None
    k8s_namespace: str | None = None
    pod_uid: str | None = None
    qos: str | None = None
    #: a pod's pause/infra container (hidden by ``nsscope ps`` unless -a)
    infra: bool = False
    #: isolated processes of no known runtime, grouped by namespaces
    sandbox: bool = False
    #: a stopped nsscope container's exit status (128+N: killed by signal N)
    exit_code: int | None = None

    @property
    def host_ns_label(self) -> str:
        """'net=host,pid=host' for the isolating namespaces shared with the host."""
        return ",".join(f"{t}=host" for t in ISOLATING if t in self.shares_host)


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

    def under(self, prefix: str) -> StatePaths:
        """The same layout inside a captured tree rooted at ``prefix``."""
        def re_root(value: Any) -> Any:
            if isinstance(value, tuple):
                return tuple(prefix.rstrip("/") + v for v in value)
            return prefix.rstrip("/") + value
        return StatePaths(**{f: re_root(getattr(self, f)) for f in self.__dataclass_fields__})


# --- cgroup path patterns -------------------------------------------------------

_HEX64 = r"[0-9a-f]{64}"
#: (runtime, regex on one path component; group 1 is the id or name)
_COMPONENT_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    # docker, systemd driver: "system.slice:docker:<id>" becomes
    # system.slice/docker-<id>.scope (moby daemon/oci_linux.go getCgroupsPath;
    # runc libcontainer/cgroups/systemd getUnitName)
    ("docker", re.compile(rf"^docker-({_HEX64})\.scope$")),
    # containerd CRI, systemd driver: "<pod slice>:cri-containerd:<id>"
    # (containerd pkg/cri/server/helpers_linux.go getCgroupsPath)
    ("containerd", re.compile(rf"^cri-containerd-({_HEX64})\.scope$")),
    # CRI-O: crio-<id>.scope (systemd) or crio-<id> (cgroupfs); its conmon is in
    # crio-conmon-<id>.scope, which this does not match (cri-o
    # internal/config/cgmgr/systemd.go and cgroupfs.go, crioPrefix = "crio")
    ("cri-o", re.compile(rf"^crio-({_HEX64})(?:\.scope)?$")),
    # podman: libpod-<id>.scope under machine.slice (systemd) or libpod-<id>
    # under /libpod_parent (cgroupfs); rootless under user.slice/user@UID.service;
    # conmon's libpod-conmon-<id>.scope does not match (libpod/runtime_ctr.go,
    # libpod/oci_conmon_common.go)
    ("podman", re.compile(rf"^libpod-({_HEX64})(?:\.scope)?$")),
    # LXC >= 4.0: lxc.payload.<name>, its monitor in lxc.monitor.<name>
    # (lxc src/lxc/cgroups/cgfsng.c, CGROUP_CREATE_RETRY / "lxc.payload.")
    ("lxc", re.compile(r"^lxc\.payload\.(.+)$")),
    # systemd-machined (systemd-nspawn registered, libvirt VMs): machine-<name>.scope,
    # the name unit-escaped ("-" as \x2d) (systemd src/machine/machine.c)
    ("machined", re.compile(r"^machine-(.+)\.scope$")),
)

#: kubelet pod cgroups. systemd driver: kubepods.slice/kubepods-<qos>.slice/
#: kubepods-<qos>-pod<uid with - as _>.slice, guaranteed pods directly under
#: kubepods.slice; cgroupfs driver: /kubepods[/burstable|/besteffort]/pod<uid>
#: (pkg/kubelet/cm/cgroup_manager_linux.go ToSystemd, escapeSystemdCgroupName;
#: pod_container_manager_linux.go, podCgroupNamePrefix = "pod")
_POD_SYSTEMD = re.compile(r"^kubepods(?:-(burstable|besteffort))?-pod([0-9a-f_]+)\.slice$")
_POD_CGROUPFS = re.compile(r"^pod([0-9a-f-]{36})$")
_QOS_DIRS = ("burstable", "besteffort")


@dataclass(frozen=True)
class _Match:
    runtime: str
    key: str  # id or name
    path: str  # the container's cgroup path


def _unescape_unit(name: str) -> str:
    """systemd unit-name escaping: \\xNN (systemd-escape(1))."""
    return re.sub(r"\\x([0-9a-fA-F]{2})", lambda m: chr(int(m.group(1), 16)), name)


def match_cgroup(path: str) -> _Match | None:
    """The container a cgroup path belongs to, from the innermost matching component."""
    parts = [p for p in path.split("/") if p]
    for i in range(len(parts) - 1, -1, -1):
        comp = parts[i]
        parent = parts[i - 1] if i else ""
        where = "/" + "/".join(parts[:i + 1])
        for runtime, rx in _COMPONENT_PATTERNS:
            m = rx.match(comp)
            if m:
                key = m.group(1)
                if runtime == "machined":
                    key = _unescape_unit(key)
                return _Match(runtime, key, where)
        # docker, cgroupfs driver: /docker/<id> (moby daemon/oci_linux.go,
        # cgroupsParent "/docker" joined with the id)
        if parent == "docker" and re.fullmatch(_HEX64, comp):
            return _Match("docker", comp, where)
        # kubelet cgroupfs driver: the runtime names the container <id> inside
        # pod<uid> (containerd getCgroupsPath joins parent and id)
        if _POD_CGROUPFS.match(parent) and re.fullmatch(r"[0-9a-f]{64}", comp):
            return _Match("kubernetes", comp, where)
        # nsscope's own (nsscope run): /nsscope/<id> (nsscope/actions/run/cgroup.py)
        if parent == "nsscope" and i == 1 and re.fullmatch(_HEX64, comp):
            return _Match("nsscope", comp, where)
        # LXC < 4.0: /lxc/<name> (legacy cgfs layout); 3.x briefly lxc.payload/<name>
        if parent in ("lxc", "lxc.payload") and not comp.startswith("lxc."):
            return _Match("lxc", comp, where)
    return None


def pod_of_cgroup(path: str) -> tuple[str | None, str | None]:
    """(pod uid, QoS class) from a kubepods cgroup path, else (None, None)."""
    parts = [p for p in path.split("/") if p]
    for i, comp in enumerate(parts):
        m = _POD_SYSTEMD.match(comp)
        if m:
            return m.group(2).replace("_", "-"), m.group(1) or "guaranteed"
        m = _POD_CGROUPFS.match(comp)
        if m and "kubepods" in parts[:i]:
            qos = parts[i - 1] if parts[i - 1] in _QOS_DIRS else "guaranteed"
            return m.group(1), qos
    return None, None


# --- small readers --------------------------------------------------------------

def _read_text(path: str) -> str | None:
    try:
        with open(path, "rb") as f:
            return f.read().decode("utf-8", "replace")
    except OSError:
        return None


def _read_json(path: str) -> Any:
    text = _read_text(path)
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return None


def _environ(proc: str, pid: int) -> dict[str, str]:
    text = _read_text(f"{proc}/{pid}/environ")
    out: dict[str, str] = {}
    for item in (text or "").split("\0"):
        k, sep, v = item.partition("=")
        if sep:
            out[k] = v
    return out


def _readlink(path: str) -> str | None:
    try:
        return os.readlink(path)
    except OSError:
        return None


def _opt(argv: Iterable[str], *names: str) -> str | None:
    """The value of an option given as ``-n VALUE``, ``--name VALUE`` or ``--name=VALUE``."""
    args = list(argv)
    for i, a in enumerate(args):
        for n in names:
            if a == n and i + 1 < len(args):
                return args[i + 1]
            if n.startswith("--") and a.startswith(n + "="):
                return a[len(n) + 1:]
    return None


def _basename(argv0: str) -> str:
    return argv0.rsplit("/", 1)[-1]


# --- what the snapshot says about runtime state locations -----------------------

@dataclass
class _Context:
    snap: Snapshot
    proc: str
    paths: StatePaths
    docker_roots: list[str] = field(default_factory=list)
    lxc_paths: list[str] = field(default_factory=list)
    children: dict[int, list[int]] = field(default_factory=dict)
    #: cgroup path -> CPU limit / frozen, read once per find()
    limits: dict[str, float | None] = field(default_factory=dict)
    frozen: dict[str, bool] = field(default_factory=dict)


def _discover(snap: Snapshot, proc: str, paths: StatePaths) -> _Context:
    ctx = _Context(snap, proc, paths, docker_roots=list(paths.docker), lxc_paths=list(paths.lxc))
    conf = _read_json(paths.docker_config)
    if isinstance(conf, dict) and isinstance(conf.get("data-root"), str):
        ctx.docker_roots.append(conf["data-root"])
    for p in snap.processes.values():
        ctx.children.setdefault(p.ppid, []).append(p.pid)
        if not p.cmdline:
            continue
        prog = _basename(p.cmdline[0])
        if prog == "dockerd":
            # dockerd --data-root (older: -g/--graph) (moby cmd/dockerd/config.go)
            root = _opt(p.cmdline, "--data-root", "-g", "--graph")
            if root:
                ctx.docker_roots.append(root)
        elif p.cmdline[0].startswith("[lxc monitor]"):
            # the monitor retitles itself "[lxc monitor] <lxcpath> <name>"
            # (lxc src/lxc/lxccontainer.c do_lxcapi_start, setproctitle)
            m = re.match(r"^\[lxc monitor\] (.+) (\S+)$", " ".join(p.cmdline))
            if m:
                ctx.lxc_paths.append(m.group(1))
    return ctx


# --- what the runtime's state says about one container ---------------------------

@dataclass
class _Info:
    runtime: str
    id: str
    name: str | None = None
    image: str | None = None
    rootfs: str | None = None
    pid: int | None = None
    pod: str | None = None
    k8s_namespace: str | None = None
    pod_uid: str | None = None
    infra: bool = False


def _from_annotations(info: _Info, ann: Mapping[str, str]) -> None:
    """Kubernetes metadata from an OCI config.json's annotations."""
    # containerd CRI (pkg/cri/annotations/annotations.go)
    if "io.kubernetes.cri.container-type" in ann:
        info.infra = ann["io.kubernetes.cri.container-type"] == "sandbox"
        info.pod = ann.get("io.kubernetes.cri.sandbox-name", info.pod)
        info.k8s_namespace = ann.get("io.kubernetes.cri.sandbox-namespace", info.k8s_namespace)
        info.pod_uid = ann.get("io.kubernetes.cri.sandbox-uid", info.pod_uid)
        info.name = ann.get("io.kubernetes.cri.container-name") or info.name
        info.image = ann.get("io.kubernetes.cri.image-name") or info.image
    # CRI-O (cri-o pkg/annotations; the io.kubernetes.* keys are kubelet's
    # labels, pkg/kubelet/types/labels.go)
    if "io.kubernetes.cri-o.ContainerType" in ann:
        info.infra = ann["io.kubernetes.cri-o.ContainerType"] == "sandbox"
        info.pod = ann.get("io.kubernetes.pod.name", info.pod)
        info.k8s_namespace = ann.get("io.kubernetes.pod.namespace", info.k8s_namespace)
        info.pod_uid = ann.get("io.kubernetes.pod.uid", info.pod_uid)
        info.name = ann.get("io.kubernetes.container.name") or info.name
        info.image = ann.get("io.kubernetes.cri-o.ImageName") or info.image


def _bundle(info: _Info, bundle: str) -> None:
    """An OCI bundle: config.json (annotations, root.path)."""
    spec = _read_json(os.path.join(bundle, "config.json"))
    if not isinstance(spec, dict):
        return
    ann = spec.get("annotations")
    if isinstance(ann, dict):
        _from_annotations(info, ann)
    root = (spec.get("root") or {}).get("path")
    if isinstance(root, str) and info.rootfs is None:
        info.rootfs = root if root.startswith("/") else os.path.join(bundle, root)


def _shim(ctx: _Context, pid: int) -> tuple[str, str, str] | None:
    """(namespace, shim id, bundle dir) if ``pid``'s parent is a containerd shim.

    containerd-shim-runc-v2 runs as ``-namespace NS -id ID -address …`` with its
    bundle (<state>/io.containerd.runtime.v2.task/<ns>/<id>, runtime/v2/bundle.go)
    as working directory (runtime/v2/shim/util.go Command: cmd.Dir = bundle).
    """
    p = ctx.snap.processes.get(pid)
    parent = ctx.snap.processes.get(p.ppid) if p else None
    if parent is None or not parent.cmdline:
        return None
    if not _basename(parent.cmdline[0]).startswith("containerd-shim"):
        return None
    ns = _opt(parent.cmdline, "-namespace", "--namespace")
    sid = _opt(parent.cmdline, "-id", "--id")
    cwd = _readlink(f"{ctx.proc}/{parent.pid}/cwd")
    if ns is None or sid is None:
        return None
    return ns, sid, cwd or ""


def _conmon(ctx: _Context, pid: int) -> tuple[str | None, str | None, str | None] | None:
    """(container id, name, bundle) if ``pid``'s parent is conmon (podman, CRI-O).

    conmon runs as ``conmon -c <id> -n <name> -b <bundle> …`` (conmon
    src/cli.c: --cid, --name, --bundle).
    """
    p = ctx.snap.processes.get(pid)
    parent = ctx.snap.processes.get(p.ppid) if p else None
    if parent is None or not parent.cmdline or _basename(parent.cmdline[0]) != "conmon":
        return None
    return (_opt(parent.cmdline, "-c", "--cid"), _opt(parent.cmdline, "-n", "--name"),
            _opt(parent.cmdline, "-b", "--bundle"))


def _storage_container(info: _Info, storage: str) -> bool:
    """containers/storage: <root>/<driver>-containers/containers.json (names, metadata).

    The metadata is a JSON string written by the runtime: podman's and CRI-O's
    RuntimeContainerMetadata (image-name, name, pod-name, pod-id; cri-o
    internal/storage/runtime.go, podman libpod/storage.go).
    """
    try:
        drivers = [e for e in os.listdir(storage) if e.endswith("-containers")]
    except OSError:
        return False
    for d in sorted(drivers):
        base = os.path.join(storage, d)
        for rec in _read_json(os.path.join(base, "containers.json")) or ():
            if not isinstance(rec, dict) or rec.get("id") != info.id:
                continue
            names = rec.get("names") or []
            if names and info.name is None:
                info.name = names[0]
            try:
                meta = json.loads(rec.get("metadata") or "{}")
            except ValueError:
                meta = {}
            info.image = info.image or meta.get("image-name")
            info.pod = info.pod or meta.get("pod-name")
            _bundle(info, os.path.join(base, info.id, "userdata"))
            return True
        userdata = os.path.join(base, info.id, "userdata")
        if os.path.isdir(userdata):
            _bundle(info, userdata)
            return True
    return False


def _docker(ctx: _Context, info: _Info) -> None:
    """<data-root>/containers/<id>/config.v2.json (moby container/container.go
    ToDisk: Name "/web", State.Pid, Config.Image, Config.Labels)."""
    for root in ctx.docker_roots:
        cfg = _read_json(os.path.join(root, "containers", info.id, "config.v2.json"))
        if not isinstance(cfg, dict):
            continue
        name = cfg.get("Name")
        if isinstance(name, str) and name:
            info.name = info.name or name.lstrip("/")
        state = cfg.get("State") or {}
        if isinstance(state.get("Pid"), int) and state["Pid"] > 0:
            info.pid = state["Pid"]
        conf = cfg.get("Config") or {}
        info.image = info.image or conf.get("Image")
        labels = conf.get("Labels") or {}
        # Kubernetes through dockershim / cri-dockerd labels its containers
        # (pkg/kubelet/types/labels.go; dockershim's io.kubernetes.docker.type)
        if "io.kubernetes.pod.name" in labels:
            info.pod = labels.get("io.kubernetes.pod.name")
            info.k8s_namespace = labels.get("io.kubernetes.pod.namespace")
            info.pod_uid = labels.get("io.kubernetes.pod.uid")
            info.infra = labels.get("io.kubernetes.docker.type") == "podsandbox"
            cname = labels.get("io.kubernetes.container.name")
            if cname and not info.infra:
                info.name = cname
        return


def _containerd(ctx: _Context, info: _Info, shim: tuple[str, str, str] | None) -> None:
    """The task bundle: <state>/io.containerd.runtime.v2.task/<ns>/<id>/ (config.json,
    init.pid; containerd runtime/v2/bundle.go, runtime/v2/runc/container.go)."""
    candidates = []
    if shim and shim[2]:
        # one shim per pod for CRI: its cwd is the sandbox's bundle, siblings are
        # the pod's containers
        candidates.append(os.path.join(os.path.dirname(shim[2]), info.id))
    for state in ctx.paths.containerd:
        base = os.path.join(state, "io.containerd.runtime.v2.task")
        try:
            candidates.extend(os.path.join(base, ns, info.id) for ns in sorted(os.listdir(base)))
        except OSError:
            continue
    for bundle in candidates:
        if os.path.isfile(os.path.join(bundle, "config.json")):
            _bundle(info, bundle)
            pid = (_read_text(os.path.join(bundle, "init.pid")) or "").strip()
            if pid.isdigit():
                info.pid = int(pid)
            return


def _kube_logs(ctx: _Context, info: _Info) -> None:
    """Pod name and namespace from /var/log/pods/<ns>_<pod>_<uid>, the container name
    from /var/log/containers/<pod>_<ns>_<container>-<id>.log (kubelet)."""
    if info.pod_uid and (info.pod is None or info.k8s_namespace is None):
        try:
            for d in os.listdir(ctx.paths.pod_logs):
                parts = d.split("_")
                if len(parts) == 3 and parts[2] == info.pod_uid:
                    info.k8s_namespace = info.k8s_namespace or parts[0]
                    info.pod = info.pod or parts[1]
                    break
        except OSError:
            pass
    if info.name is None and not info.infra:
        suffix = f"-{info.id}.log"
        try:
            for f in os.listdir(ctx.paths.container_logs):
                if f.endswith(suffix):
                    pod, ns, rest = f[:-len(suffix)].split("_", 2)
                    info.name = rest
                    info.pod = info.pod or pod
                    info.k8s_namespace = info.k8s_namespace or ns
                    break
        except (OSError, ValueError):
            pass


def _lxc(ctx: _Context, info: _Info) -> None:
    """<lxcpath>/<name>/config: lxc.rootfs.path (lxc.container.conf(5))."""
    for lxcpath in ctx.lxc_paths:
        text = _read_text(os.path.join(lxcpath, info.id, "config"))
        if text is None:
            continue
        for line in text.splitlines():
            key, _, value = line.partition("=")
            if key.strip() in ("lxc.rootfs.path", "lxc.rootfs"):
                value = value.strip()
                # "dir:/path" or "overlayfs:lower:upper": the storage type prefix
                info.rootfs = value.split(":", 1)[1] if value.startswith("dir:") else value
        return


def _nsscope(ctx: _Context, info: _Info) -> None:
    """nsscope run's own record (nsscope.actions.run.state): name, PID 1, rootfs ("" = the
    host's /)."""
    for run_dir in ctx.paths.nsscope:
        rec = runstate.load(info.id, run_dir, ctx.proc)
        if rec is not None:
            info.name = rec.name or info.name
            info.rootfs = rec.rootfs or None
            if rec.pid:
                info.pid = rec.pid
            return


def not_running(snap: Snapshot, proc: str = PROC,
                paths: StatePaths = StatePaths()) -> list[Container]:
    """nsscope run's containers that have no running PID 1: stopped ones (kept, with
    their exit status, until ``nsscope rm``: what ``docker ps -a`` adds) and ones
    being created. From the runtime's records (nsscope.actions.run.state.list_containers,
    which derives the status from the live pid); those in ``snap.containers`` (seen
    running) are not listed twice. The cgroup is named only while it exists."""
    seen = {c.id for c in snap.containers if c.runtime == "nsscope"}
    out = []
    for run_dir in paths.nsscope:
        for rec in runstate.list_containers(run_dir, proc):
            if rec.id in seen or rec.status == runstate.RUNNING:
                continue
            seen.add(rec.id)
            cgroup = rec.cgroup if any(os.path.isdir(h.mountpoint + rec.cgroup)
                                       for h in snap.hierarchies) else None
            out.append(Container(
                id=rec.id, short_id=rec.short_id, name=rec.name or rec.short_id,
                runtime="nsscope", pid=None, pids=(), state=rec.status, cgroup=cgroup,
                rootfs=rec.rootfs or None, exit_code=rec.exit_code))
    return out


def _describe(ctx: _Context, m: _Match, main: int) -> _Info:
    """Everything the runtime's state says about the container matched by ``m``."""
    info = _Info(runtime=m.runtime, id=m.key)
    if m.runtime in ("lxc", "machined"):
        info.name = m.key
    info.pod_uid, _ = pod_of_cgroup(m.path)
    shim = _shim(ctx, main)
    conmon = _conmon(ctx, main)
    if shim is not None and m.runtime in ("kubernetes", "docker", "containerd"):
        ns = shim[0]
        # containerd namespaces: "moby" is dockerd's, "k8s.io" the CRI plugin's
        # (moby libcontainerd; containerd pkg/cri/constants K8sContainerdNamespace)
        if ns == "moby":
            info.runtime = "docker"
        elif m.runtime == "kubernetes" or ns == "k8s.io":
            info.runtime = "containerd"
    if conmon is not None and m.runtime in ("kubernetes", "podman", "cri-o"):
        _, name, bundle = conmon
        if m.runtime == "kubernetes":
            info.runtime = "cri-o"
        if info.runtime == "podman" and name:
            info.name = name
        if bundle:
            _bundle(info, bundle)
            # bundle = <graphroot>/<driver>-containers/<id>/userdata
            _storage_container(info, os.path.dirname(os.path.dirname(os.path.dirname(bundle))))
    if info.runtime == "docker":
        _docker(ctx, info)
    if info.runtime in ("containerd", "docker", "kubernetes"):
        _containerd(ctx, info, shim)
    if info.runtime in ("podman", "cri-o") or (info.runtime == "kubernetes" and conmon is None):
        for storage in ctx.paths.containers_storage:
            if _storage_container(info, storage):
                if info.runtime == "kubernetes":
                    info.runtime = "cri-o"
                break
    if info.runtime == "lxc":
        _lxc(ctx, info)
    if info.runtime == "nsscope":
        _nsscope(ctx, info)
    if info.pod_uid or info.runtime in ("containerd", "cri-o", "kubernetes"):
        _kube_logs(ctx, info)
    return info


# --- runc / crun state dirs -----------------------------------------------------

def _oci_states(ctx: _Context) -> list[tuple[_Info, int | None]]:
    """Containers started with plain runc/crun: (info, start time of the init).

    runc: <root>/<id>/state.json with init_process_pid/_start and config.rootfs
    (runc libcontainer/container_linux.go saveState); crun: <root>/<id>/status
    with pid, process-start-time, rootfs (crun src/libcrun/status.c).
    """
    out: list[tuple[_Info, int | None]] = []
    for runtime, roots, fname in (("runc", ctx.paths.runc, "state.json"),
                                  ("crun", ctx.paths.crun, "status")):
        for root in roots:
            try:
                ids = sorted(os.listdir(root))
            except OSError:
                continue
            for cid in ids:
                st = _read_json(os.path.join(root, cid, fname))
                if not isinstance(st, dict):
                    continue
                if runtime == "runc":
                    pid, start = st.get("init_process_pid"), st.get("init_process_start")
                    rootfs = (st.get("config") or {}).get("rootfs")
                else:
                    pid, start = st.get("pid"), st.get("process-start-time")
                    rootfs = st.get("rootfs")
                if not isinstance(pid, int):
                    continue
                out.append((_Info(runtime=runtime, id=cid, name=cid, rootfs=rootfs, pid=pid),
                            start if isinstance(start, int) else None))
    return out


# --- cgroup figures -----------------------------------------------------------------

def _dir_in(h: Hierarchy, path: str) -> str | None:
    if h.root == "/":
        return h.mountpoint if path == "/" else h.mountpoint + path
    if path == h.root or path.startswith(h.root.rstrip("/") + "/"):
        return h.mountpoint + path[len(h.root):]
    return None


def _hierarchy_for(snap: Snapshot, controller: str) -> Hierarchy | None:
    for h in snap.hierarchies:
        if h.version == 1 and controller in h.controllers:
            return h
    for h in snap.hierarchies:
        if h.version == 2 and controller in h.controllers:
            return h
    return None


def _cpu_of(snap: Snapshot, h: Hierarchy, path: str) -> CpuStats | None:
    cg = snap.cgroups.get(path)
    if cg is not None and cg.cpu is not None and (cg.cpu.period_usec is not None
                                                  or cg.cpu.quota_usec is not None):
        return cg.cpu
    d = _dir_in(h, path)
    if d is None or not os.path.isdir(d):
        return None
    # a snapshot taken without figures: read just this cgroup's bandwidth
    return cgroups.cpu_v2(d) if h.version == 2 else cgroups.cpu_v1(d, None)


def cpu_limit(snap: Snapshot, proc: Process,
              memo: dict[str, float | None] | None = None) -> float | None:
    """The tightest CPU quota over the process's cpu cgroup and its ancestors.

    ``memo`` (path -> limit) spares re-reading the same cgroups for many processes.
    """
    h = _hierarchy_for(snap, "cpu")
    if h is None:
        return None
    path = proc.cgroups.get(h.key)
    if not path:
        return None
    if memo is not None and path in memo:
        return memo[path]
    best = None
    here = path
    while True:
        cpu = _cpu_of(snap, h, here)
        if cpu is not None and cpu.limit_cpus is not None:
            best = cpu.limit_cpus if best is None else min(best, cpu.limit_cpus)
        if here in ("/", "", h.root):
            break
        here = here.rsplit("/", 1)[0] or "/"
    if memo is not None:
        memo[path] = best
    return best


def _frozen(snap: Snapshot, proc: Process, memo: dict[str, bool]) -> bool:
    """v1 freezer.state FROZEN, or v2 cgroup.events 'frozen 1' (cgroup-v2.rst)."""
    h = _hierarchy_for(snap, "freezer")
    if h is not None and h.version == 1:
        path, name = proc.cgroups.get(h.key, "/"), "/freezer.state"
    else:
        h = next((x for x in snap.hierarchies if x.version == 2), None)
        if h is None or UNIFIED not in proc.cgroups:
            return False
        path, name = proc.cgroups[UNIFIED], "/cgroup.events"
    if path not in memo:
        d = _dir_in(h, path)
        text = (_read_text(d + name) if d else None) or ""
        memo[path] = text.strip() == "FROZEN" or "frozen 1" in text
    return memo[path]


# --- grouping -------------------------------------------------------------------

def _main_pid(snap: Snapshot, pids: Iterable[int], hint: int | None = None) -> int | None:
    """The container's init: the runtime's word if it is a member, else the oldest
    member whose parent is outside."""
    members = set(pids)
    if hint is not None and hint in members:
        return hint
    tops = [snap.processes[p] for p in members if snap.processes[p].ppid not in members]
    if not tops:
        return min(members) if members else None
    return min(tops, key=lambda p: (p.starttime, p.pid)).pid


def _descendants(ctx: _Context, pid: int) -> set[int]:
    out, stack = set(), [pid]
    while stack:
        p = stack.pop()
        if p in out:
            continue
        out.add(p)
        stack.extend(ctx.children.get(p, ()))
    return out


def _non_host(snap: Snapshot, p: Process) -> dict[str, int]:
    return {t: p.ns[t] for t in NS_TYPES
            if t in p.ns and t in snap.host_ns and p.ns[t] != snap.host_ns[t]}


def _isolated(snap: Snapshot, p: Process) -> bool:
    return p.visible and not p.kernel_thread and bool(_non_host(snap, p))


def _identifying_cgroup(p: Process, prefer_named: bool = False) -> str | None:
    """For runtimes found without a cgroup pattern: where the main process is."""
    keys = [UNIFIED, "name=systemd"] if prefer_named else []
    for k in keys:
        path = p.cgroups.get(k)
        if path and path != "/":
            return path
    return p.cgroup_for("cpu") or p.cgroups.get(UNIFIED)


def _nspawn_name(snap: Snapshot, main: Process) -> str | None:
    """systemd-nspawn's -M/--machine, else the basename of -D/--directory or -i/--image
    (systemd-nspawn(1): the machine name defaults to the directory's name)."""
    sup = snap.processes.get(main.ppid)
    if sup is None or not sup.cmdline or _basename(sup.cmdline[0]) != "systemd-nspawn":
        return None
    name = _opt(sup.cmdline, "-M", "--machine")
    if name:
        return name
    where = _opt(sup.cmdline, "-D", "--directory", "-i", "--image")
    return os.path.basename(where.rstrip("/")) if where else None


_LAUNCHERS = ("unshare", "bwrap", "firejail", "nsjail", "minijail0", "flatpak")


def find(snap: Snapshot, proc: str = PROC,
         paths: StatePaths = StatePaths()) -> tuple[Container, ...]:
    """Every container and sandbox on the host, as ``Container`` records."""
    ctx = _discover(snap, proc, paths)
    procs = snap.processes
    found: list[tuple[_Info, str | None, set[int]]] = []  # (info, cgroup, pids)
    claimed: set[int] = set()

    # 1. cgroup path patterns (docker, containerd, CRI-O, podman, LXC, machined, kubepods)
    groups: dict[tuple[str, str], set[int]] = {}
    matches: dict[tuple[str, str], _Match] = {}
    for p in procs.values():
        if p.kernel_thread:
            continue
        best: _Match | None = None
        for path in p.cgroups.values():
            m = match_cgroup(path)
            if m is not None and (best is None or len(m.path) > len(best.path)):
                best = m
        if best is not None:
            k = (best.runtime, best.path)
            groups.setdefault(k, set()).add(p.pid)
            matches[k] = best
    for k, pids in groups.items():
        m = matches[k]
        main = _main_pid(snap, pids)
        info = _describe(ctx, m, main) if main is not None else _Info(m.runtime, m.key)
        if m.runtime == "machined" and main is not None and \
                _environ(proc, main).get("container") == "systemd-nspawn":
            info.runtime = "systemd-nspawn"
        found.append((info, m.path, pids))
        claimed |= pids

    # 1b. a shim's or conmon's child in a cgroup no pattern names (docker run
    # --cgroup-parent, podman --cgroup-parent with a custom layout): the shim's
    # containerd namespace or conmon says which runtime
    for p in procs.values():
        if p.pid in claimed or p.kernel_thread:
            continue
        shim, conmon = _shim(ctx, p.pid), _conmon(ctx, p.pid)
        if shim is None and conmon is None:
            continue
        path = p.cgroup_for("cpu") or "/"
        last = path.rsplit("/", 1)[-1]
        if shim is not None:
            runtime = {"moby": "docker", "k8s.io": "containerd"}.get(shim[0], "containerd")
            key = last if re.fullmatch(_HEX64, last) else shim[1]
        else:
            runtime, key = "podman", conmon[0] or last  # type: ignore[index]
        if path == "/":
            pids = _descendants(ctx, p.pid) - claimed
        else:
            pids = {q.pid for q in procs.values() if q.pid not in claimed and (
                q.cgroup_for("cpu") == path or (q.cgroup_for("cpu") or "").startswith(path + "/"))}
        m = _Match(runtime, key, path)
        found.append((_describe(ctx, m, p.pid), path, pids))
        claimed |= pids

    # 2. systemd-nspawn without machined (--register=no --keep-unit): its payload
    # has container=systemd-nspawn in its environment (nspawn.c; systemd's
    # CONTAINER_INTERFACE: "container=" names the manager) and a pid namespace
    by_pidns: dict[int, set[int]] = {}
    for p in procs.values():
        if p.pid in claimed or not _isolated(snap, p) or "pid" not in _non_host(snap, p):
            continue
        by_pidns.setdefault(p.ns["pid"], set()).add(p.pid)
    for pidns, pids in sorted(by_pidns.items()):
        main = _main_pid(snap, pids)
        if main is None:
            continue
        manager = _environ(proc, main).get("container")
        if manager != "systemd-nspawn":
            continue
        mp = procs[main]
        name = _nspawn_name(snap, mp) or str(pidns)
        info = _Info(runtime="systemd-nspawn", id=name, name=name)
        sup = procs.get(mp.ppid)
        if sup is not None:
            info.rootfs = _opt(sup.cmdline, "-D", "--directory")
        found.append((info, _identifying_cgroup(mp, prefer_named=True), pids))
        claimed |= pids

    # 3. plain runc / crun from their state dirs; fills in rootfs for the above
    for info, start in _oci_states(ctx):
        init = procs.get(info.pid or 0)
        if init is None or (start is not None and init.starttime != start):
            continue  # stopped, or the pid now names another process
        if init.pid in claimed:
            for known, _, members in found:
                if init.pid in members and known.rootfs is None:
                    known.rootfs = info.rootfs
            continue
        members = _descendants(ctx, init.pid)
        if "pid" in _non_host(snap, init):
            members |= {q.pid for q in procs.values() if q.ns.get("pid") == init.ns["pid"]}
        members -= claimed
        found.append((info, _identifying_cgroup(init), members))
        claimed |= members

    # 4. processes in a container's (non-host) pid or mount namespace outside its
    # cgroup: joined with nsenter/setns, or the runtime's own helper that set the
    # namespaces up (nsscope run's nsexec): they belong to it
    joinable: list[tuple[dict[str, int], set[int]]] = []
    for info, _, members in found:
        main = _main_pid(snap, members, info.pid)
        if main is not None:
            nh = _non_host(snap, procs[main])
            want: dict[str, int] = {t: nh[t] for t in ("pid", "mnt") if t in nh}
            if want:
                joinable.append((want, members))
    for p in procs.values():
        if p.pid in claimed or not _isolated(snap, p):
            continue
        for want, members in joinable:
            if any(p.ns.get(t) == ino for t, ino in want.items()):
                members.add(p.pid)
                claimed.add(p.pid)
                break

    out = [_container(ctx, info, cg, pids) for info, cg, pids in found if pids]
    out.extend(_sandboxes(ctx, claimed))
    out.sort(key=lambda c: (c.sandbox, c.runtime, c.k8s_namespace or "", c.pod or "", c.name))
    return tuple(out)


def _short(cid: str) -> str:
    """docker's 12-hex short form for hex ids; names stay whole."""
    return cid[:12] if re.fullmatch(r"[0-9a-f]{32,}", cid) else cid


def _container(ctx: _Context, info: _Info, cg: str | None, pids: set[int]) -> Container:
    snap, proc = ctx.snap, ctx.proc
    main = _main_pid(snap, pids, info.pid)
    mp = snap.processes.get(main) if main is not None else None
    rootfs = info.rootfs
    if rootfs is None and mp is not None:
        root = _readlink(f"{proc}/{main}/root")
        rootfs = root if root and root != "/" else None
    infra = info.infra
    # the pod sandbox's process: k8s's /pause, podman's "catatonit -P"
    # (podman libpod/runtime_pod_linux.go infra command)
    if mp is not None and not infra and (
            (info.pod_uid and mp.comm == "pause")
            or (mp.cmdline and _basename(mp.cmdline[0]) == "catatonit" and "-P" in mp.cmdline)):
        infra = True
    _, qos = pod_of_cgroup(cg or "")
    name = info.name
    if infra and info.pod and (name is None or name.startswith("k8s_POD_")):
        # a pod's sandbox is "POD" in the kubelet's own naming (dockershim's
        # k8s_POD_<pod>_…, CRI-O's storage names): "<pod>/POD" resolves it
        name = "POD"
    return Container(
        id=info.id, short_id=_short(info.id), name=name or _short(info.id),
        runtime=info.runtime,
        pid=main, pids=tuple(sorted(pids)),
        state="paused" if mp is not None and _frozen(snap, mp, ctx.frozen) else "running",
        cgroup=cg, cpu_limit=cpu_limit(snap, mp, ctx.limits) if mp is not None else None,
        shares_host=tuple(t for t in NS_TYPES if mp is not None and t in mp.ns
                          and snap.host_ns.get(t) == mp.ns[t]),
        image=info.image, rootfs=rootfs, pod=info.pod, k8s_namespace=info.k8s_namespace,
        pod_uid=info.pod_uid, qos=qos, infra=infra)


def _sandboxes(ctx: _Context, claimed: set[int]) -> list[Container]:
    """Isolated processes of no known runtime, grouped.

    Processes with the same namespace set are one sandbox; so is a child that
    is at least as isolated as its isolated parent (``unshare --fork --pid``:
    unshare itself is in the new mount/net/…, its child also in the new pid
    namespace).
    """
    snap, proc, procs = ctx.snap, ctx.proc, ctx.snap.processes
    members = {pid: p for pid, p in procs.items() if pid not in claimed and _isolated(snap, p)}
    parent: dict[int, int] = {pid: pid for pid in members}

    def root(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    def union(a: int, b: int) -> None:
        ra, rb = root(a), root(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)

    by_set: dict[tuple[tuple[str, int], ...], int] = {}
    for pid, p in members.items():
        nh = _non_host(snap, p)
        key = tuple(sorted(nh.items()))
        if key in by_set:
            union(by_set[key], pid)
        else:
            by_set[key] = pid
        pp = members.get(p.ppid)
        if pp is not None:
            pnh = _non_host(snap, pp)
            if all(nh.get(t) == ino for t, ino in pnh.items()):
                union(p.ppid, pid)
    groups: dict[int, list[int]] = {}
    for pid in members:
        groups.setdefault(root(pid), []).append(pid)

    out = []
    for pids in groups.values():
        # the main process: the most isolated, then the oldest
        main = min((procs[p] for p in pids),
                   key=lambda p: (-len(_non_host(snap, p)), p.starttime, p.pid))
        top = min((procs[p] for p in pids if procs[p].ppid not in pids),
                  key=lambda p: (p.starttime, p.pid))
        launcher = "sandbox"
        name = None
        for cand in (top, procs.get(top.ppid)):
            if cand is not None and cand.cmdline:
                prog = _basename(cand.cmdline[0])
                if prog in _LAUNCHERS:
                    launcher = prog
                    if prog == "firejail":
                        name = _opt(cand.cmdline, "--name")
                    break
        nh = _non_host(snap, main)
        ino = next(nh[t] for t in ("pid", "mnt", "net", "user", "uts", "ipc", "cgroup", "time")
                   if t in nh)
        root_link = _readlink(f"{proc}/{main.pid}/root")
        out.append(Container(
            id=str(ino), short_id=str(ino), name=name or f"{launcher}-{main.pid}",
            runtime=launcher, pid=main.pid, pids=tuple(sorted(pids)),
            state="paused" if _frozen(snap, main, ctx.frozen) else "running",
            cgroup=main.cgroup_for("cpu"), cpu_limit=cpu_limit(snap, main, ctx.limits),
            shares_host=tuple(t for t in NS_TYPES if t in main.ns
                              and snap.host_ns.get(t) == main.ns[t]),
            rootfs=root_link if root_link and root_link != "/" else None, sandbox=True))
    return out


# --- names -> targets -------------------------------------------------------------

def lookup(containers: Iterable[Container], text: str) -> Container:
    """A container by name ("web", "pod/container", "namespace/pod/container"),
    full id, or unique id prefix."""
    cs = list(containers)

    def names(c: Container) -> set[str]:
        out = {c.name}
        if c.pod:
            out.add(f"{c.pod}/{c.name}")
            if c.k8s_namespace:
                out.add(f"{c.k8s_namespace}/{c.pod}/{c.name}")
        return out

    for hits in ([c for c in cs if text in names(c)],
                 [c for c in cs if c.id == text],
                 [c for c in cs if c.id.startswith(text)] if text else []):
        if len(hits) == 1:
            return hits[0]
        if len(hits) > 1:
            listed = ", ".join(f"{c.short_id} ({c.runtime} {c.name})" for c in hits[:10])
            raise BadInput(f"{text!r} is ambiguous: it matches {listed}")
    raise NsscopeError(f"no such container: {text}")


def resolve_target(text: str, proc: str = PROC) -> Target:
    """The main process of the container named (or id-prefixed) ``text``."""
    from nsscope.host.collector import Roots, collect  # collector imports this module
    from nsscope.host.targets import Target

    snap = collect(replace(Roots(), proc=proc), cgroup_figures=False, fds=False)
    c = lookup(snap.containers, text)
    if c.pid is None or c.pid not in snap.processes:
        raise NsscopeError(f"container {c.name} has no running process")
    p = snap.processes[c.pid]
    return Target(pid=c.pid, starttime=p.starttime, container=c.name, container_id=c.id,
                  cgroup=p.cgroup_for("cpu"))

"""The containers a target's text may name, found as cheaply as the text allows.

``candidates`` answers the targets module: every container the text could
fit, the way to turn one into a ``Target``, and what could not be read (so
that "no such container" is never said of a container whose name this user
cannot read).

Two ways, one answer. The quick index looks only where names and ids are kept
— the runtimes' state directories (runc, crun, docker, containers/storage,
containerd, nsscope run, the kubelet's pod logs), the cgroup directories of the
hierarchies runtimes use (container ids and names are in them: find()
recognises containers by those), and what the few daemons that announce
containers say (dockerd's --data-root, found through its pidfile or its
containerd's; conmon's graph root; firejail's name register; systemd-nspawn's
command line): no file is read per process, only per cgroup and per
container. It keeps only the identities the text could fit (equal to it, or
starting with it), and requires every running container's name to be known.
It answers when it is sure: every fitting container is one it understands whole
(a running runc/crun, docker, podman or nsscope container whose main process it
has checked); anything else — a sandbox-like name, a number that could be a
namespace inode, a Kubernetes name, lxc or machined names, a state file it
cannot read, a container it half knows — sends the question to a snapshot
(``collect`` + ``find``, as ``nsscope ps -a`` sees the host), so the rules of
``naming`` always judge the same containers. tests/system/host/test_targets.py
checks both ways give the same answers on real runtimes.

``nsscope enter NAME`` thus costs a few reads instead of a snapshot
(bench/bench_enter.py), and ``nsscope enter PID`` learns that no container's
name or id starts with those digits for the same price.

The quick index imports no dataclasses, re or json (json only to read one
containers.json that holds the text, or nsscope run's state), and lives outside
the containers package, whose import recognises every runtime: it runs on the
enter fast path.
"""

from __future__ import annotations

import os

from nsscope.errors import NsscopeError
from nsscope.host.processes import parse_cgroup, parse_stat
from nsscope.host.target import Target
from nsscope.kernel.abi import PROC

TYPE_CHECKING = False
if TYPE_CHECKING:
    from nsscope.host.containers.state_paths import StatePaths
    from nsscope.host.model import Container, Snapshot

#: StatePaths' defaults, repeated here so the fast path does not import the
#: dataclass (tests/unit/host/test_candidates.py checks they stay the same)
DOCKER = ("/var/lib/docker",)
DOCKER_CONFIG = "/etc/docker/daemon.json"
CONTAINERS_STORAGE = ("/var/lib/containers/storage", "/run/containers/storage")
CONTAINERD = ("/run/containerd", "/run/docker/containerd/daemon")
RUNC = ("/run/runc",)
CRUN = ("/run/crun",)
LXC = ("/var/lib/lxc",)
NSSCOPE = ("/run/nsscope",)
POD_LOGS = "/var/log/pods"
#: dockerd's pidfile (moby cmd/dockerd/config: --pidfile, default /var/run/docker.pid)
DOCKER_PIDFILES = ("/var/run/docker.pid", "/run/docker.pid")
#: firejail's register of sandbox names (its RUN_FIREJAIL_NAME_DIR): one file per
#: sandbox, named by its pid, holding its --name
FIREJAIL_NAMES = "/run/firejail/name"
#: the sandbox launchers (sandboxes.LAUNCHERS) and the name of one without a launcher:
#: a sandbox is named <launcher>-<pid> (sandboxes.find_sandboxes)
SANDBOX_NAMES = ("unshare", "bwrap", "firejail", "nsjail", "minijail0", "flatpak", "sandbox")
#: the first namespace inode (PROC_DYNAMIC_FIRST, 0xF0000000) and the initial
#: namespaces just below it (include/linux/proc_ns.h): a sandbox's id is one
FIRST_INODE = 0xEFFFFFFB
LAST_INODE = 0xFFFFFFFF
_HEX = frozenset("0123456789abcdef")


class Found:
    """The containers to choose among, and how to make a ``Target`` of one."""

    def __init__(self, proc: str, state: StatePaths | None) -> None:
        self.proc = proc
        self.state = state
        self._snap: Snapshot | None = None
        self.containers: list = []
        #: what could not be read, in words ("names of docker containers: …")
        self.blind: tuple[str, ...] = ()
        #: "snapshot" or "quick": how they were found (tests and benchmarks look)
        self.source = ""

    def snapshot(self) -> Snapshot:
        if self._snap is None:
            from nsscope.host.collector import Roots, collect

            roots = Roots(proc=self.proc) if self.state is None else \
                Roots(proc=self.proc, state=self.state)
            # netns ids are shown by no refusal: no netlink socket (~10 ms of imports)
            self._snap = collect(roots, cgroup_figures=False, fds=False, netnsid=False)
        return self._snap

    def from_snapshot(self) -> Found:
        from nsscope.host.containers.nsscope_runs import not_running
        from nsscope.host.containers.state_paths import StatePaths, discover

        snap = self.snapshot()
        paths = self.state or StatePaths()
        try:
            stopped = not_running(snap, self.proc, paths)
        except PermissionError:
            stopped = []  # said by blind_spots
        self.containers = [*snap.containers, *stopped]
        self.blind = blind_spots(paths, discover(snap, self.proc, paths).docker_roots)
        self.source = "snapshot"
        return self

    def target_of(self, c: Container | Entry) -> Target:
        """The container's main process, named for good."""
        if isinstance(c, Entry):
            return c.target(self.proc)
        snap = self.snapshot()
        p = snap.processes.get(c.pid) if c.pid is not None else None
        if p is None:
            raise _not_running(c.name, c.runtime, c.state)
        # a sandbox has no cgroup of its own (it is where its launcher was): it is
        # acted on as the process it is, never through the cgroup it shares
        cgroup = p.cgroup_for("cpu")
        if c.sandbox or cgroup in (None, "/"):
            cgroup = None
        return Target(pid=p.pid, starttime=p.starttime, container=c.name, container_id=c.id,
                      cgroup=cgroup, runtime=c.runtime)


def _not_running(name: str, runtime: str, state: str) -> NsscopeError:
    state = state if state != "running" else "not running"
    return NsscopeError(f"container {name} ({runtime}) is {state}: it has no running process")


def candidates(text: str, proc: str = PROC, state: StatePaths | None = None, *,
               digits: bool = False, ns: bool = False) -> Found:
    """The containers ``text`` may name: the quick index's when it is sure, else the
    snapshot's (``ns``: the ns: form, which needs every process's namespaces)."""
    if state is None and proc == PROC and not ns:
        found = Index(text, proc, digits).found()
        if found is not None:
            return found
    return Found(proc, state).from_snapshot()


# --- the quick index ----------------------------------------------------------------

class Entry:
    """A container the quick index understands whole (``naming`` reads it as it reads a
    ``model.Container``)."""

    __slots__ = ("id", "name", "pid", "runtime", "short_id", "start", "state")

    pod = None
    k8s_namespace = None
    sandbox = False

    def __init__(self, runtime: str, cid: str, name: str, pid: int | None,
                 start: int | None = None, state: str = "running") -> None:
        self.runtime = runtime
        self.id = cid
        self.short_id = cid[:12] if len(cid) >= 32 and _is_hex(cid) else cid
        self.name = name
        #: the main process as ``find`` makes it: the runtime's init
        self.pid = pid
        #: its start time, when the runtime recorded it
        self.start = start
        self.state = state

    def target(self, proc: str) -> Target:
        if self.pid is None or self.state != "running":
            raise _not_running(self.name, self.runtime, self.state)
        try:
            with open(f"{proc}/{self.pid}/stat", "rb") as f:
                _, state, _, _, start = parse_stat(f.read())
            with open(f"{proc}/{self.pid}/cgroup", "rb") as f:
                cgs = parse_cgroup(f.read())
        except (OSError, ValueError, IndexError):
            raise _not_running(self.name, self.runtime, "not running") from None
        if (self.start is not None and start != self.start) or state in ("Z", "X"):
            raise _not_running(self.name, self.runtime, "not running")
        return Target(pid=self.pid, starttime=start, container=self.name, container_id=self.id,
                      cgroup=_cpu_path(cgs), runtime=self.runtime)


def _cpu_path(cgs: dict[str, str]) -> str | None:
    """Process.cgroup_for("cpu"): the v1 hierarchy with cpu, else the unified one."""
    for key, path in cgs.items():
        if key and "cpu" in key.split(","):
            return path if path != "/" else None
    unified = cgs.get("")
    return unified if unified and unified != "/" else None


def _is_hex(s: str) -> bool:
    return bool(s) and set(s) <= _HEX


def _hex64_in(name: str) -> str | None:
    """The 64-hex id in a cgroup directory's name (docker-<id>.scope, libpod-<id>, <id>)."""
    for part in name.replace(".", "-").split("-"):
        if len(part) == 64 and _is_hex(part):
            return part
    return None


def _field(text: str, key: str) -> str | None:
    """The value of ``"key":`` in JSON as runtimes write it (Go's encoding/json compact:
    runc, docker; yajl indented: crun): a number, true/false, or a string without
    escapes; None otherwise. The key must be one the file holds once."""
    i = text.find(f'"{key}":')
    if i < 0:
        return None
    j = i + len(key) + 3
    while j < len(text) and text[j] in " \t\n":
        j += 1
    if text.startswith('"', j):
        k = text.find('"', j + 1)
        value = text[j + 1:k] if k > 0 else ""
        return None if k < 0 or "\\" in value else value
    k = j
    while k < len(text) and (text[k].isalnum() or text[k] == "-"):
        k += 1
    return text[j:k] or None


def _int(text: str | None) -> int | None:
    return int(text) if text and text.isascii() and text.isdigit() else None


def _read(path: str) -> str | None:
    """The file's text, None if it cannot be read (os.open/os.read: a third of what a
    Python file object costs, which counts once per process in _daemons)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        chunks: list[bytes] = []
        while True:
            data = os.read(fd, 1 << 16)
            if not data:
                return b"".join(chunks).decode("utf-8", "replace")
            chunks.append(data)
    except OSError:
        return None
    finally:
        os.close(fd)


def _listdir(path: str) -> list[str]:
    """Its entries; [] when it does not exist. PermissionError when it exists unread."""
    try:
        return os.listdir(path)
    except (FileNotFoundError, NotADirectoryError):
        return []


def _cmdline(proc: str, pid: str) -> list[str]:
    data = _read(f"{proc}/{pid}/cmdline")
    return data.split("\0")[:-1] if data else []


def _option(argv: list[str], *names: str) -> str | None:
    """files.option, without importing the containers package."""
    for i, a in enumerate(argv):
        for n in names:
            if a == n and i + 1 < len(argv):
                return argv[i + 1]
            if n.startswith("--") and a.startswith(n + "="):
                return a[len(n) + 1:]
    return None


class Unsure(Exception):
    """The quick index cannot answer for sure: take a snapshot."""


class Index:
    """The identities ``text`` fits, from state files, cgroup directories and daemons."""

    def __init__(self, text: str, proc: str, digits: bool = False) -> None:
        self.text = text
        self.proc = proc
        #: text is a live pid's number: only a container it also fits matters
        self.digits = digits
        #: id -> Entry of the containers ``text`` fits (by id or by name)
        self.entries: dict[str, Entry] = {}
        #: 64-hex ids in cgroup names -> (cgroup path, its directory): every one must be
        #: explained by a runtime's state, which names it (else: unsure)
        self.ids: dict[str, tuple[str, str]] = {}
        #: cgroups whose name fits the text -> that name: a runtime's state must
        #: account for each (a runc or crun container's cgroup is named by its id)
        self.named: dict[str, str] = {}
        #: runc/crun inits of fitting ids that a runtime's pattern claims (podman's)
        self.oci_inits: dict[str, tuple[int, int | None]] = {}
        self.docker_roots = list(DOCKER)
        self.storages = list(CONTAINERS_STORAGE)
        self.nspawn = False
        self.kube = False

    def fits(self, ident: str | None) -> bool:
        return bool(ident) and ident.startswith(self.text)  # type: ignore[union-attr]

    def found(self) -> Found | None:
        try:
            self._scan()
        except (Unsure, PermissionError):
            return None
        f = Found(self.proc, None)
        f.containers = list(self.entries.values())
        f.source = "quick"
        return f

    # the scan

    def _scan(self) -> None:
        text = self.text
        if not text or "/" in text or text != text.strip() or not text.isprintable():
            raise Unsure  # pod-qualified names, odd text: the snapshot judges
        for launcher in SANDBOX_NAMES:
            head = launcher + "-"
            if head.startswith(text) or (text.startswith(head) and
                                         text[len(head):].isdigit()):
                raise Unsure  # a sandbox's name (<launcher>-<pid>)
        if text.isdigit() and FIRST_INODE <= int(text) <= LAST_INODE:
            raise Unsure  # a sandbox's id
        self._daemons()
        self._cgroups()
        if self.nspawn and text.isdigit() and _may_start_inode(text):
            raise Unsure  # nspawn names a machine it is not told the name of by its inode
        if self.kube:
            self._kubelet()
        self._runc_crun()
        self._docker()
        self._containers_storage()
        self._nsscope()
        self._containerd()
        if self.ids or self.named or self.oci_inits:
            raise Unsure  # a container (or a cgroup named like the text) no state explains

    def _cgroups(self) -> None:
        """Every cgroup directory of the hierarchies runtimes put containers in — the cpu
        one (every runtime makes its containers' cgroups there), name=systemd and cgroup2
        (systemd-nspawn, machined) — against the runtimes' patterns (cgroup_names.py).
        O(cgroups), not O(processes): a host of 10,000 processes has a few hundred."""
        from nsscope.host.mountinfo import cgroup_hierarchies

        points = [mountpoint for key, version, controllers, mountpoint, _ in
                  cgroup_hierarchies(proc=self.proc)
                  if version == 2 or "cpu" in controllers or key == "name=systemd"]
        for mountpoint in dict.fromkeys(points):
            self._walk(mountpoint, "")

    def _walk(self, d: str, rel: str) -> None:
        try:
            with os.scandir(d) as it:
                kids = [e.name for e in it if e.is_dir(follow_symlinks=False)]
        except OSError:
            return
        for name in kids:
            path = f"{rel}/{name}"
            self._cgroup(path, name, rel.rsplit("/", 1)[-1], d)
            self._walk(os.path.join(d, name), path)

    def _cgroup(self, path: str, name: str, parent: str, where: str) -> None:
        """One cgroup directory, ``name`` in ``parent``, under directory ``where``."""
        if name.startswith("kubepods"):
            self.kube = True  # a Kubernetes node: names come from the kubelet
        if (name.startswith("lxc.payload.") and self.fits(name[12:])) or \
                (parent in ("lxc", "lxc.payload") and self.fits(name)):
            raise Unsure  # lxc names its containers' cgroups after them
        if name.startswith("machine-") and name.endswith(".scope") and \
                self.fits(name[8:-6].replace("\\x2d", "-")):
            raise Unsure  # machined's machines
        if name == "payload" and os.path.isdir(os.path.join(where, "supervisor")):
            # systemd-nspawn --keep-unit: <unit>/payload and <unit>/supervisor (nspawn.c)
            self._nspawn(os.path.join(where, "supervisor"))
        cid = _hex64_in(name)
        if cid is not None:
            # a container's id: its runtime's state must say its name (a name nothing
            # records would be unknown here, and might fit)
            self.ids.setdefault(cid, (path, os.path.join(where, name)))
        elif self.fits(name):
            # a cgroup named like the text (a runc id, a containerd task, ...): a runtime's
            # state below must account for it
            self.named[path] = name

    def _nspawn(self, supervisor: str) -> None:
        """nspawn's names: -M/--machine, else the basename of -D/-i (nspawn_name)."""
        self.nspawn = True
        for pid in (_read(os.path.join(supervisor, "cgroup.procs")) or "").split():
            argv = _cmdline(self.proc, pid)
            names = [_option(argv, "-M", "--machine"),
                     *(os.path.basename((v or "").rstrip("/"))
                       for v in (_option(argv, "-D", "--directory"),
                                 _option(argv, "-i", "--image")))]
            if any(self.fits(n) for n in names):
                raise Unsure

    def _daemons(self) -> None:
        """Names only a process announces: dockerd's --data-root (through its pidfile,
        moby's default /var/run/docker.pid), firejail's --name (/run/firejail/name/<pid>,
        firejail's own register)."""
        for pidfile in DOCKER_PIDFILES:
            pid = (_read(pidfile) or "").strip()
            if pid.isdigit() and (_read(f"{self.proc}/{pid}/comm") or "").strip() == "dockerd":
                root = _option(_cmdline(self.proc, pid), "--data-root", "-g", "--graph")
                if root:
                    self.docker_roots.append(root)
        for pid in _listdir(FIREJAIL_NAMES):
            if self.fits((_read(os.path.join(FIREJAIL_NAMES, pid)) or "").strip()):
                raise Unsure  # a firejail sandbox's name

    def _runc_crun(self) -> None:
        """runc's <root>/<id>/state.json, crun's <root>/<id>/status (oci.py)."""
        for runtime, roots, fname, pid_key, start_key in (
                ("runc", RUNC, "state.json", "init_process_pid", "init_process_start"),
                ("crun", CRUN, "status", "pid", "process-start-time")):
            for root in roots:
                for cid in _listdir(root):
                    if not self.fits(cid) and cid not in self.ids:
                        continue
                    st = _read(os.path.join(root, cid, fname))
                    if st is None:
                        continue
                    pid, start = _int(_field(st, pid_key)), _int(_field(st, start_key))
                    if pid is None or not _alive(self.proc, pid, start):
                        continue  # stopped: find() does not list it either
                    cgroup_text = _read(f"{self.proc}/{pid}/cgroup") or ""
                    if _owned_elsewhere(cgroup_text):
                        # podman's runc, or a container a runtime's cgroup pattern claims:
                        # that runtime's state must name it (below)
                        if self.fits(cid):
                            self.oci_inits[cid] = (pid, start)
                        continue
                    env = _read(f"{self.proc}/{pid}/environ") or ""
                    if "container=systemd-nspawn" in env.split("\0"):
                        raise Unsure  # find() takes it for an nspawn payload first
                    for line in cgroup_text.splitlines():
                        self.named.pop(line.split(":", 2)[-1], None)  # its own cgroups
                    if self.fits(cid):
                        self.entries[cid] = Entry(runtime, cid, cid, pid, start)

    def _docker(self) -> None:
        """<data-root>/containers/<id>/config.v2.json (docker.py), for every data root:
        the defaults, daemon.json's data-root, dockerd's --data-root. Only running
        containers matter (find() lists no other): those whose id is in a cgroup."""
        conf = _read(DOCKER_CONFIG)
        if conf and '"data-root"' in conf:
            import json
            try:
                root = json.loads(conf).get("data-root")
            except (ValueError, AttributeError):
                raise Unsure from None
            if isinstance(root, str):
                self.docker_roots.append(root)
        for root in self._roots_of_unknown():
            if root not in self.docker_roots:
                self.docker_roots.append(root)
        for root in dict.fromkeys(self.docker_roots):
            base = os.path.join(root, "containers")
            for cid in _listdir(base):
                if cid not in self.ids:
                    continue  # not running
                cfg = _read(os.path.join(base, cid, "config.v2.json"))
                if cfg is None or _field(cfg, "Running") != "true":
                    continue
                name = _docker_name(cfg)
                if "io.kubernetes." in cfg or not name:
                    raise Unsure  # dockershim's names come from its labels
                del self.ids[cid]
                if not (self.fits(cid) or self.fits(name)):
                    continue
                pid = _int(_field(cfg, "Pid"))
                if pid is None or cid not in (_read(f"{self.proc}/{pid}/cgroup") or ""):
                    raise Unsure
                self.entries[cid] = Entry("docker", cid, name, pid)
                self.oci_inits.pop(cid, None)

    def _roots_of_unknown(self) -> list[str]:
        """The data roots of running docker containers no known root holds: their init's
        shim (-address <exec-root>/containerd/containerd.sock) -> that containerd
        (containerd.pid beside the socket), whose parent is the dockerd that started
        it (moby libcontainerd/supervisor) -> its --data-root."""
        known = {cid for root in self.docker_roots
                 for cid in _listdir(os.path.join(root, "containers"))}
        out = []
        for cid, (path, d) in self.ids.items():
            if cid in known or "libpod-" in path or "kubepods" in path:
                continue
            init = self._init_of(d)
            shim = _ppid(self.proc, init[0]) if init else None
            argv = _cmdline(self.proc, shim) if shim else []
            if not argv or not os.path.basename(argv[0]).startswith("containerd-shim") or \
                    _option(argv, "-namespace", "--namespace") != "moby":
                continue
            address = _option(argv, "-address", "--address") or ""
            containerd = (_read(os.path.join(os.path.dirname(address), "containerd.pid"))
                          or "").strip()
            dockerd = _ppid(self.proc, containerd) if containerd.isdigit() else None
            if dockerd and (_read(f"{self.proc}/{dockerd}/comm") or "").strip() == "dockerd":
                root = _option(_cmdline(self.proc, dockerd), "--data-root", "-g", "--graph")
                out.append(root or DOCKER[0])
        return out

    def _containers_storage(self) -> None:
        """podman: <graphroot>/<driver>-containers/containers.json (containers_storage.py),
        in the default graph roots and in those its conmons announce (-b <bundle> under
        <graphroot>/<driver>-containers/<id>/userdata); its init is the oldest process
        of its cgroup whose parent is outside (find()'s main process), conmon's child."""
        for cid, (path, d) in list(self.ids.items()):
            if f"libpod-{cid}" in path:
                conmon = self._conmon_of(d)
                bundle = _option(_cmdline(self.proc, conmon), "-b", "--bundle") \
                    if conmon else None
                if bundle:
                    root = os.path.dirname(os.path.dirname(os.path.dirname(bundle)))
                    if root not in self.storages:
                        self.storages.append(root)
        for storage in self.storages:
            for d in _listdir(storage):
                if not d.endswith("-containers"):
                    continue
                data = _read(os.path.join(storage, d, "containers.json"))
                if not data:
                    continue
                running = [cid for cid in self.ids if cid in data]
                if self.text not in data:
                    for cid in running:
                        del self.ids[cid]  # its names are here, and none fits
                    continue
                import json
                try:
                    recs = json.loads(data)
                except ValueError:
                    raise Unsure from None
                for rec in recs if isinstance(recs, list) else ():
                    cid, names = rec.get("id"), rec.get("names") or []
                    if not isinstance(cid, str) or cid not in self.ids:
                        continue  # not running
                    path, cg_dir = self.ids.pop(cid)
                    if not (self.fits(cid) or any(self.fits(n) for n in names)):
                        continue
                    try:
                        meta = json.loads(rec.get("metadata") or "{}")
                    except ValueError:
                        raise Unsure from None
                    if not names or not isinstance(meta, dict) or meta.get("pod-name"):
                        raise Unsure  # a pod's: pod-qualified names, an infra container
                    init = self._init_of(cg_dir)
                    if init is None:
                        raise Unsure
                    self.oci_inits.pop(cid, None)
                    self.entries[cid] = Entry("podman", cid, names[0], init[0], init[1])

    def _nsscope(self) -> None:
        """nsscope run's own: names/<name> -> id, containers/<id>/state.json (host/runstate.py:
        its containers_dir and names_dir; runstate is imported only to read a record)."""
        for run_dir in NSSCOPE:
            ids = {cid for cid in _listdir(os.path.join(run_dir, "containers"))
                   if not cid.startswith(".")}
            wanted = {cid for cid in ids if self.fits(cid)}
            names = os.path.join(run_dir, "names")
            for name in _listdir(names):
                if self.fits(name):
                    try:
                        wanted.add(os.path.basename(os.readlink(os.path.join(names, name))))
                    except OSError:
                        raise Unsure from None
            for cid in ids:
                self.ids.pop(cid, None)  # named in names/ (checked above)
            if wanted:
                from nsscope.host import runstate
            for cid in wanted:
                rec = runstate.load(cid, run_dir, self.proc)
                if rec is None:
                    raise Unsure
                state = "running" if rec.status == runstate.RUNNING else rec.status
                self.entries[cid] = Entry("nsscope", cid, rec.name or rec.short_id, rec.pid,
                                          rec.starttime, state=state)

    def _containerd(self) -> None:
        """containerd's tasks (<state>/io.containerd.runtime.v2.task/<namespace>/<id>):
        docker's ("moby") are named in its data root; on a Kubernetes node the
        kubelet's names were checked (_kubelet); any other task (ctr, nerdctl) is
        named by its id — the snapshot answers when that fits."""
        for state in CONTAINERD:
            base = os.path.join(state, "io.containerd.runtime.v2.task")
            for ns in _listdir(base):
                for cid in _listdir(os.path.join(base, ns)):
                    if ns == "moby":
                        continue  # docker's: an unknown one stays in self.ids
                    if self.fits(cid):
                        raise Unsure
                    if ns == "k8s.io":
                        self.ids.pop(cid, None)
        if self.kube:
            for cid, (path, _) in list(self.ids.items()):
                if "kubepods" in path and not self.fits(cid):
                    del self.ids[cid]  # named by the kubelet (checked) or by its id

    def _kubelet(self) -> None:
        """On a Kubernetes node (kubepods cgroups): a container's name is the kubelet's,
        from /var/log/pods/<namespace>_<pod>_<uid>/<container>/ (kubelet.py) or from
        the CRI runtime's annotations (the same names). When one could fit, or there are
        no pod logs to read them from, the snapshot answers."""
        if self.fits("POD"):
            raise Unsure  # a pod's sandbox
        pods = _listdir(POD_LOGS)
        for pod in pods:
            for name in _listdir(os.path.join(POD_LOGS, pod)):
                if self.fits(name):
                    raise Unsure
        if not pods and any(_listdir(os.path.join(state, "io.containerd.runtime.v2.task",
                                                  "k8s.io")) for state in CONTAINERD):
            raise Unsure  # names in containerd's task bundles, and no pod logs to check

    def _init_of(self, cgroup_dir: str) -> tuple[int, int | None] | None:
        """The main process of a container's cgroup as find() makes it (main_pid): the
        oldest member whose parent is outside the cgroup."""
        members = {int(p) for p in (_read(os.path.join(cgroup_dir, "cgroup.procs")) or "")
                   .split()}
        tops = []
        for pid in members:
            try:
                with open(f"{self.proc}/{pid}/stat", "rb") as f:
                    _, _, ppid, _, start = parse_stat(f.read())
            except (OSError, ValueError, IndexError):
                continue
            if ppid not in members:
                tops.append((start, pid))
        if not tops:
            return None
        start, pid = min(tops)
        return pid, start

    def _conmon_of(self, cgroup_dir: str) -> str | None:
        """The conmon of a podman container's cgroup: its init's parent."""
        init = self._init_of(cgroup_dir)
        ppid = _ppid(self.proc, init[0]) if init else None
        if ppid and (_read(f"{self.proc}/{ppid}/comm") or "").strip() == "conmon":
            return ppid
        return None


def _ppid(proc: str, pid: int | str) -> str | None:
    stat = _read(f"{proc}/{pid}/stat") or ""
    fields = stat.rsplit(")", 1)[-1].split()
    return fields[1] if len(fields) > 1 else None


def _docker_name(cfg: str) -> str:
    """The container's name in config.v2.json: the one "Name" that starts with "/"
    (volume mount points have names too, without it)."""
    i = cfg.find('"Name":"/')
    if i < 0:
        return ""
    j = cfg.find('"', i + 9)
    name = cfg[i + 9:j] if j > 0 else ""
    return "" if "\\" in name else name


def _alive(proc: str, pid: int, start: int | None) -> bool:
    try:
        with open(f"{proc}/{pid}/stat", "rb") as f:
            _, state, _, _, now = parse_stat(f.read())
    except (OSError, ValueError, IndexError):
        return False
    return state not in ("Z", "X") and (start is None or now == start)


def _owned_elsewhere(cgroup_text: str) -> bool:
    """Whether a runc/crun init sits in a cgroup a runtime's pattern claims, or one
    named by a 64-hex id (find() then takes it for that runtime, not for runc)."""
    for line in cgroup_text.splitlines():
        path = line.split(":", 2)[-1]
        for comp in path.split("/"):
            if comp.startswith(("docker-", "cri-containerd-", "crio-", "libpod-",
                                "lxc.payload.", "machine-", "kubepods")) or \
                    comp in ("docker", "lxc", "nsscope") or _hex64_in(comp):
                return True
    return False


def _may_start_inode(digits: str) -> bool:
    """Whether ``digits`` is, or is the start of, a namespace inode number."""
    for width in range(len(digits), 11):
        low = int(digits) * 10 ** (width - len(digits))
        high = low + 10 ** (width - len(digits)) - 1
        if low <= LAST_INODE and high >= FIRST_INODE:
            return True
    return False


# --- what could not be read -----------------------------------------------------

#: runtime -> the StatePaths fields holding its state, for blind_spots
_STATE_OF = (("docker", "docker"), ("podman and CRI-O", "containers_storage"),
             ("runc", "runc"), ("crun", "crun"), ("lxc", "lxc"),
             ("nsscope run", "nsscope"), ("containerd", "containerd"))


def blind_spots(paths: StatePaths, docker_roots: list[str] | tuple[str, ...] = ()
                ) -> tuple[str, ...]:
    """The runtimes' state directories that exist but this user cannot read, in words
    (one sentence, or none): their containers show without names, or not at all."""
    runtimes, shut = [], []
    for runtime, field in _STATE_OF:
        dirs = list(getattr(paths, field))
        if field == "docker":
            dirs += [d for d in docker_roots if d not in dirs]
        elif field == "nsscope":
            # /run/nsscope is open; its containers/ is root's (actions/run/state.py)
            dirs = [os.path.join(d, "containers") for d in dirs]
        these = [d for d in dirs if _shut(d)]
        if these:
            runtimes.append(runtime)
            shut += these
    if not shut:
        return ()
    return (f"the names of {_and(runtimes)} containers are kept in {_and(shut)}, which "
            f"uid {os.geteuid()} may not read",)


def _shut(d: str) -> bool:
    """A directory that is there (or may be: a parent hides it) and may not be read."""
    try:
        os.stat(d)
    except PermissionError:
        return True
    except OSError:
        return False
    return not os.access(d, os.R_OK | os.X_OK)


def _and(words: list[str]) -> str:
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} and {words[-1]}"

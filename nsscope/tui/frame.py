"""What the TUI shows at one moment: a snapshot, the CPU rates, the containers.

A ``Frame`` is made in the collector thread and handed to the UI thread in a
message; nothing in it changes afterwards. Indexes the views need (children of
each cgroup, the container of each cgroup) are computed on first use and kept
with the frame.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any
from collections.abc import Mapping

from nsscope.host.history import CpuRates
from nsscope.host.model import NS_TYPES, Process, Snapshot


@dataclass(frozen=True, slots=True)
class Container:
    """A container (or sandbox) as the TUI lists it, whatever recognised it."""

    #: unique among the frame's containers (the runtime's id, or a sandbox's key)
    key: str
    runtime: str
    name: str
    id: str
    #: the main process (None when it could not be told)
    pid: int | None
    #: its cgroup path in the cpu hierarchy (None for sandboxes sharing the host's)
    cgroup: str | None
    state: str = ""
    pod: str | None = None
    sandbox: bool = False
    #: member processes when known without the cgroup (sandboxes)
    pids: tuple[int, ...] = ()
    #: the CPU quota that binds it, in CPUs, its own or an ancestor's
    cpu_limit: float | None = None

    @property
    def short_id(self) -> str:
        return self.id[:12]


def _attr(obj: Any, *names: str, default: Any = None) -> Any:
    for n in names:
        v = getattr(obj, n, None)
        if v is not None:
            return v
    return default


def adapt(c: Any) -> Container:
    """A ``nsscope.host.containers`` record as the TUI's ``Container``."""
    cid = str(_attr(c, "id", "key", default=""))
    runtime = str(_attr(c, "runtime", default="?"))
    name = str(_attr(c, "name", default="") or cid[:12])
    sandbox = bool(_attr(c, "sandbox", default=False)) or runtime in ("sandbox", "sandboxes")
    pids = _attr(c, "pids", default=())
    return Container(key=f"{runtime}:{cid or name}", runtime=runtime, name=name, id=cid,
                     pid=_attr(c, "pid", "main_pid"), cgroup=_attr(c, "cgroup", "cgroup_path"),
                     state=str(_attr(c, "state", "status", default="")),
                     pod=_attr(c, "pod", "pod_uid"), sandbox=sandbox,
                     pids=tuple(pids) if pids else (), cpu_limit=_attr(c, "cpu_limit"))


# --- interim recognition, until nsscope.host.containers fills Snapshot.containers ------
# The cgroup leaf names runtimes give their containers. Sources: moby
# daemon/daemon_unix.go (cgroupfs "/docker/<id>", systemd "docker-<id>.scope"),
# containerd/CRI "cri-containerd-<id>.scope", cri-o "crio-<id>.scope", podman
# libpod "libpod-<id>[.scope]", lxc "lxc.payload.<name>", kubelet cgroupfs
# ".../pod<uid>/<id>".
_LEAF_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("docker", re.compile(r"^docker-([0-9a-f]{64})\.scope$")),
    ("containerd", re.compile(r"^cri-containerd-([0-9a-f]{64})\.scope$")),
    ("cri-o", re.compile(r"^crio-([0-9a-f]{64})\.scope$")),
    ("podman", re.compile(r"^libpod-([0-9a-f]{64})(?:\.scope)?$")),
    ("lxc", re.compile(r"^lxc\.payload\.(.+)$")),
)


def _recognise(path: str) -> tuple[str, str] | None:
    parts = path.rsplit("/", 2)
    leaf = parts[-1]
    for runtime, pat in _LEAF_PATTERNS:
        m = pat.match(leaf)
        if m:
            return runtime, m.group(1)
    if len(parts) >= 2 and re.fullmatch(r"[0-9a-f]{64}", leaf):
        parent = parts[-2]
        if parent == "docker":
            return "docker", leaf
        if parent.startswith("pod"):
            return "kubernetes", leaf
    return None


def recognise(snap: Snapshot) -> tuple[Container, ...]:
    """Containers told from cgroup names, and sandboxes from namespaces (interim)."""
    out: list[Container] = []
    claimed: set[int] = set()
    for path in snap.cgroups:
        found = _recognise(path)
        if found is None:
            continue
        runtime, ident = found
        members = _members_below(snap, path)
        claimed.update(members)
        pod = None
        for part in path.split("/"):
            m = re.search(r"pod([0-9a-f_\-]{36})", part)
            if m:
                pod = m.group(1).replace("_", "-")
        name = ident if runtime == "lxc" else ident[:12]
        out.append(Container(key=f"{runtime}:{ident}", runtime=runtime, name=name, id=ident,
                             pid=members[0] if members else None, cgroup=path,
                             state="running" if members else "stopped", pod=pod))
    out.extend(_sandboxes(snap, claimed))
    return tuple(out)


_ISOLATING = ("mnt", "pid", "net", "uts", "ipc", "user", "cgroup")


def _sandboxes(snap: Snapshot, claimed: set[int]) -> list[Container]:
    """Processes in namespaces of their own, no runtime's: grouped by namespace set."""
    host = snap.host_ns
    if not host:
        return []
    groups: dict[tuple, list[int]] = {}
    for pid, p in snap.processes.items():
        if pid in claimed or not p.ns or p.kernel_thread:
            continue
        own = tuple((t, p.ns[t]) for t in _ISOLATING if t in p.ns and p.ns[t] != host.get(t))
        if own:
            groups.setdefault(own, []).append(pid)
    out = []
    for own, pids in groups.items():
        pids.sort()
        lead = _group_leader(snap, pids)
        p = snap.processes[lead]
        types = ",".join(t for t, _ in own)
        out.append(Container(key=f"sandbox:{lead}", runtime="sandboxes",
                             name=f"{p.comm} ({types})", id=str(lead), pid=lead,
                             cgroup=p.cgroup_for("cpu"), state="running", sandbox=True,
                             pids=tuple(pids)))
    return out


def _group_leader(snap: Snapshot, pids: list[int]) -> int:
    """The member whose parent is outside the group (the sandbox's init), else the lowest."""
    members = set(pids)
    for pid in pids:
        if snap.processes[pid].ppid not in members:
            return pid
    return pids[0]


def _members_below(snap: Snapshot, path: str) -> tuple[int, ...]:
    prefix = path.rstrip("/") + "/"
    pids: set[int] = set()
    for p, cg in snap.cgroups.items():
        if p == path or p.startswith(prefix):
            pids.update(cg.procs)
    return tuple(sorted(pids))


# --- the frame ----------------------------------------------------------------------

#: the containers last adapted, and what they became: the sampler hands over the same
#: tuple each second while no container came or went (Frame.of runs in the collector
#: thread only)
_adapted: tuple[object, tuple[Container, ...]] = (None, ())


@dataclass(frozen=True)
class Frame:
    snapshot: Snapshot
    #: the latest CPU rates per cgroup path (empty on the first frame)
    rates: Mapping[str, CpuRates]
    containers: tuple[Container, ...]
    #: 1, 2, 3… in the order the collector made them
    seq: int = 0
    _cache: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @staticmethod
    def of(snapshot: Snapshot, rates: Mapping[str, CpuRates], seq: int = 0) -> Frame:
        global _adapted  # noqa: PLW0603 - the last conversion, reused while unchanged
        found = getattr(snapshot, "containers", None)
        if found is None:
            containers = recognise(snapshot)
        elif _adapted[0] is found:
            containers = _adapted[1]
        else:
            containers = tuple(adapt(c) for c in found)
            _adapted = (found, containers)
        return Frame(snapshot=snapshot, rates=rates, containers=containers, seq=seq)

    def cached(self, name: str, make) -> Any:
        """``make()`` once per frame (the cache is filled from the UI thread only)."""
        v = self._cache.get(name)
        if v is None:
            v = self._cache[name] = make()
        return v

    # --- lookups the views share

    def process(self, pid: int | None) -> Process | None:
        return None if pid is None else self.snapshot.processes.get(pid)

    def container(self, key: str) -> Container | None:
        return self.cached("containers_by_key",
                           lambda: {c.key: c for c in self.containers}).get(key)

    def cgroup_children(self) -> dict[str, list[str]]:
        def make() -> dict[str, list[str]]:
            kids: dict[str, list[str]] = {}
            for path, cg in self.snapshot.cgroups.items():
                parent = cg.parent_path
                if parent is not None:
                    kids.setdefault(parent, []).append(path)
            return kids
        return self.cached("cgroup_children", make)

    def members(self, c: Container) -> tuple[int, ...]:
        """The processes of a container: its cgroup and those below, or its known pids."""
        if c.pids:
            return c.pids
        if c.cgroup is None:
            return (c.pid,) if c.pid is not None else ()
        return self.cached(f"members:{c.key}", lambda: _members_below(self.snapshot, c.cgroup))

    def container_of(self, pid: int) -> Container | None:
        def make() -> dict[int, Container]:
            out: dict[int, Container] = {}
            for c in self.containers:
                for m in self.members(c):
                    out.setdefault(m, c)
            return out
        return self.cached("container_of", make).get(pid)

    def cpu_cgroup(self, pid: int) -> str | None:
        p = self.process(pid)
        return p.cgroup_for("cpu") if p is not None else None

    def shared_with_host(self, pid: int) -> dict[str, bool]:
        """Namespace type -> True when the process shares the host's (initial) one."""
        p = self.process(pid)
        host = self.snapshot.host_ns
        if p is None:
            return {}
        return {t: p.ns.get(t) == host.get(t) for t in NS_TYPES if t in p.ns}

"""Where a limit goes: the host's cpu hierarchy and its companions, and the
``Plan`` for one target (limit its cgroup in place, or move it into a new
``/nsscope/throttle-<pid>`` cgroup; on v2 the no-internal-process rule).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from nsscope.actions.throttle.systemd import SYSTEMD_DIR, systemd_booted, unit_of
from nsscope.errors import BadInput, NoSuchProcess, NsscopeError
from nsscope.host import cgroups, processes
from nsscope.host.collector import Roots
from nsscope.host.model import Cgroup, Hierarchy, Process
from nsscope.host.targets import Target
from nsscope.kernel.abi import PROC

#: the live host's /proc and /sys/fs/cgroup
LIVE = Roots()
#: the cgroup (in each hierarchy) under which nsscope makes the ones it needs
PARENT = "/nsscope"
# --- where the limit goes -------------------------------------------------------------------

@dataclass(frozen=True)
class Host:
    """The hierarchies a throttle works with."""

    hierarchies: tuple[Hierarchy, ...]
    #: the one with the cpu controller (v1 cpu or cpu,cpuacct; else the unified one)
    cpu: Hierarchy
    #: where a moved process is moved too: a v1 cpuacct mounted apart (its
    #: usage) and a hybrid host's cgroup2 (its PSI, usage_usec)
    companions: tuple[Hierarchy, ...]
    #: the procfs this host's processes are read from (the injectable root)
    proc: str = PROC

    @property
    def version(self) -> int:
        return self.cpu.version

    def by_key(self, key: str) -> Hierarchy | None:
        for h in self.hierarchies:
            if h.key == key:
                return h
        return None

    def dir(self, path: str, h: Hierarchy | None = None) -> str:
        d = cgroups.dir_of(h or self.cpu, path)
        if d is None:
            raise NsscopeError(f"cgroup {path} is outside the {(h or self.cpu).mountpoint} "
                               "mount (a cgroup namespace?)")
        return d

    def read(self, path: str) -> Cgroup | None:
        """The cgroup's CPU figures, through the same reader as every view."""
        return cgroups.read_cgroup(self.hierarchies, path, controllers=("cpu",))


def host(roots: Roots = LIVE) -> Host:
    hs = cgroups.hierarchies(roots.cgroup, roots.proc)
    cpu = cgroups.cpu_hierarchy(hs)
    if cpu is None:
        raise NsscopeError(f"no cgroup hierarchy with the cpu controller under {roots.cgroup}")
    companions: list[Hierarchy] = []
    if cpu.version == 1:
        for h in hs:
            cpuacct_apart = h.version == 1 and h is not cpu and "cpuacct" in h.controllers
            if cpuacct_apart or h.version == 2:
                companions.append(h)
    return Host(hierarchies=hs, cpu=cpu, companions=tuple(companions), proc=roots.proc)


@dataclass(frozen=True)
class Plan:
    cgroup: str
    #: pids to move into ``cgroup`` (empty: limit it in place)
    move: tuple[int, ...]
    #: pid -> {hierarchy key: cgroup path} before the move
    origins: dict[int, dict[str, str]]
    #: why this cgroup, said to the user
    reason: str
    #: v2: cgroups whose subtree_control needs +cpu, root first
    enable: tuple[str, ...] = ()
    #: the systemd unit owning the cgroup, when systemd runs it
    unit: str | None = None


def parent_of(path: str) -> str:
    head = path.rsplit("/", 1)[0]
    return head or "/"


def ancestors(path: str) -> list[str]:
    """'/a/b/c' -> ['/', '/a', '/a/b'] (root first)."""
    parts = [p for p in path.split("/") if p]
    if not parts:
        return []
    return ["/", *("/" + "/".join(parts[:i]) for i in range(1, len(parts)))]


def words(path: str) -> list[str]:
    text = cgroups.read_text(path)
    return text.split() if text else []


def _v2_enable_path(hst: Host, cgroup: str) -> tuple[list[str], str | None]:
    """The ancestors of ``cgroup`` whose subtree_control lacks +cpu, and why that is
    impossible (None when it is possible).

    cgroup-v2.rst, "No Internal Process Constraint": a non-root cgroup can
    enable domain controllers for its children only if it has no processes.
    """
    need: list[str] = []
    for a in ancestors(cgroup):
        d = hst.dir(a)
        if "cpu" in words(d + "/cgroup.subtree_control"):
            continue
        if a != "/" and cgroups.read_procs(d):
            return need, (f"cgroup {a} above it holds processes, so the cpu controller "
                          "cannot be enabled below it (cgroup-v2.rst, no internal process "
                          "constraint)")
        need.append(a)
    return need, None


def origins(pids: list[int], hst: Host, proc: str) -> dict[int, dict[str, str]]:
    out = {}
    for pid in pids:
        try:
            cgs = processes.read_process(pid, proc, cmdline=False).cgroups
        except NoSuchProcess:
            continue
        out[pid] = {h.key: cgs[h.key] for h in (hst.cpu, *hst.companions) if h.key in cgs}
    return out


def throttleable(pid: int, proc: str) -> Process:
    p = processes.read_process(pid, proc, cmdline=False)
    if p.kernel_thread:
        raise BadInput(f"pid {pid} ({p.comm}) is a kernel thread: kernel threads stay in the "
                       "root cgroup and cannot be throttled")
    return p


def plan(target: Target, hst: Host, *, tree: bool = False, roots: Roots = LIVE,
         systemd_dir: str = SYSTEMD_DIR, own_ok: bool = True) -> Plan:
    """Which cgroup to limit for ``target`` (reads only).

    ``own_ok=False`` moves the process even when its cgroup is its own (used
    when that cgroup cannot get the cpu controller).
    """
    pid = target.pid
    p = throttleable(pid, roots.proc)
    current = p.cgroups.get(hst.cpu.key)
    if current is None:
        raise NsscopeError(f"pid {pid} is in no cgroup of the {hst.cpu.mountpoint} hierarchy")
    move: tuple[int, ...] = ()
    if target.cgroup is not None:
        cgroup = target.cgroup
        reason = f"container {target.container or target.pid}'s own cgroup"
    else:
        members = cgroups.read_procs(hst.dir(current))
        family = [pid, *processes.descendants(pid, roots.proc)]
        kin = set(family)
        others = [m for m in members if m not in kin]
        if own_ok and current not in ("/", hst.cpu.root) and not others:
            cgroup = current
            reason = (f"pid {pid} has cgroup {current} to itself"
                      + (" and its descendants" if len(members) > 1 else ""))
        else:
            cgroup = f"{PARENT}/throttle-{pid}"
            inside = set(members)
            move = tuple(m for m in family if m in inside) if tree else (pid,)
            if not others:
                where = f"cgroup {current}"
            elif current in ("/", hst.cpu.root):
                where = f"the root cgroup with {len(others)} other processes"
            else:
                where = (f"cgroup {current} with {len(others)} other "
                         f"process{'es' if len(others) != 1 else ''}")
            reason = (f"pid {pid} shares {where}: moved "
                      + (f"it and {len(move) - 1} descendant(s)" if len(move) > 1 else "it")
                      + f" to {cgroup}")
            if hst.version == 2 and current not in ("/", hst.cpu.root):
                # one hierarchy for every controller (cgroup-v2.rst): the move is total
                reason += (f" (cgroup v2: this also takes it out of {current}'s memory, io "
                           "and pids limits)")
    enable: tuple[str, ...] = ()
    if hst.version == 2:
        # a moved process goes to /nsscope/throttle-PID: +cpu is needed in / and /nsscope
        need, impossible = _v2_enable_path(hst, cgroup)
        if impossible is not None:
            if target.cgroup is not None or move:
                raise NsscopeError(f"cannot limit {cgroup}: {impossible}")
            # its own cgroup cannot get the controller: a cgroup of nsscope's instead
            moved = plan(target, hst, tree=tree, roots=roots, systemd_dir=systemd_dir,
                         own_ok=False)
            return replace(moved, reason=f"{impossible}; moved pid {pid} to {moved.cgroup} "
                                         "instead")
        enable = tuple(need)
    unit = unit_of(cgroup) if not move and systemd_booted(systemd_dir) else None
    return Plan(cgroup=cgroup, move=move, origins=origins(list(move), hst, roots.proc),
                reason=reason, enable=enable, unit=unit)

def hierarchies_of(hst: Host) -> tuple[Hierarchy, ...]:
    return (hst.cpu, *hst.companions)



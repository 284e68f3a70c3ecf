"""Where a limit goes: the host's cpu hierarchy and its companions, and the
``Placement`` for one target (limit its cgroup in place, or move it into a new
``/nsscope/throttle-<pid>`` cgroup; on v2 the no-internal-process rule).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from nsscope.actions.throttle.limit import Limit
from nsscope.actions.throttle.systemd import SYSTEMD_DIR, systemd_booted, unit_of
from nsscope.errors import BadInput, NoSuchProcess, NsscopeError
from nsscope.host import cgroups, processes
from nsscope.host.collector import Roots
from nsscope.host.model import Cgroup, Hierarchy, Process
from nsscope.host.target import Target
from nsscope.kernel.abi import PROC

#: the live host's /proc and /sys/fs/cgroup
LIVE = Roots()
#: the cgroup (in each hierarchy) under which nsscope makes the ones it needs at the top
PARENT = "/nsscope"
#: the cgroup nsscope makes beneath a process's own to limit it there
NESTED = "nsscope-throttle-{pid}"
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
class Placement:
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
    #: hierarchy key -> where moved processes go: ``cgroup`` in the cpu hierarchy, its
    #: twin beneath their old cgroup in each companion (empty: nothing moves)
    dests: dict[str, str] = field(default_factory=dict)


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


def throttle_cgroup(origin: str, pid: int) -> str:
    """Where a process moved out of ``origin`` goes: beneath it, so that every limit of
    ``origin`` and its ancestors still binds it (issue 12, item 7); at the top of the
    hierarchy (nothing binds there) under /nsscope."""
    if origin == "/":
        return f"{PARENT}/throttle-{pid}"
    return f"{origin.rstrip('/')}/{NESTED.format(pid=pid)}"


def is_throttle_cgroup(path: str) -> bool:
    """A cgroup nsscope made to limit a moved process."""
    leaf = path.rsplit("/", 1)[-1]
    return path.startswith(f"{PARENT}/throttle-") or leaf.startswith("nsscope-throttle-")


def effective_limit(hst: Host, path: str) -> tuple[float | None, str | None]:
    """The tightest CPU quota over ``path`` and its ancestors, in CPUs, and the cgroup
    that sets it ((None, None): none binds). CFS bandwidth is hierarchical
    (sched-bwc.rst, "Hierarchical considerations")."""
    best: tuple[float | None, str | None] = (None, None)
    for a in (*ancestors(path), path):
        cg = hst.read(a)
        cpus = cg.cpu.limit_cpus if cg is not None and cg.cpu is not None else None
        if cpus is not None and (best[0] is None or cpus < best[0]):
            best = (cpus, a)
    return best


def _v2_limits_left(hst: Host, path: str, limit: Limit | None) -> list[str]:
    """On v2, what moving a process out of ``path`` to the top takes it out of: its
    (and its ancestors') memory, pids and io limits, and a CPU limit tighter than
    ``limit`` (one hierarchy for every controller, cgroup-v2.rst)."""
    out = []
    cpus, where = effective_limit(hst, path)
    if limit is not None and cpus is not None and \
            (limit.cpus is None or limit.cpus > cpus + 1e-9):
        out.append(f"the cpu limit {100 * cpus:g}% of {where}")
    for a in (*ancestors(path)[1:], path):
        d = hst.dir(a)
        for f in ("memory.max", "memory.high", "pids.max"):
            w = words(f"{d}/{f}")
            if w and w[0] != "max":
                out.append(f"{f} {w[0]} of {a}")
        if words(f"{d}/io.max"):
            out.append(f"io.max of {a}")
    return out


def plan(target: Target, hst: Host, *, tree: bool = False, roots: Roots = LIVE,
         systemd_dir: str = SYSTEMD_DIR, own_ok: bool = True, force: bool = False,
         limit: Limit | None = None) -> Placement:
    """Which cgroup to limit for ``target`` (reads only).

    A process that shares its cgroup with others is moved into a new cgroup
    beneath that one (``throttle_cgroup``), in the cpu hierarchy and its
    companions, so it stays under every limit it was under: its container's,
    its pod's. On v2 a cgroup holding processes cannot give its children the cpu
    controller (no internal process constraint): there the only way is to the top,
    out of those limits, which is refused unless nothing binds it there that the new
    ``limit`` does not (or ``force``); without ``limit`` the CPU limits are not
    compared (a plan to look at). ``own_ok=False`` moves the process even when
    its cgroup is its own (used when that cgroup cannot get the cpu controller).
    """
    pid = target.pid
    p = throttleable(pid, roots.proc)
    current = p.cgroups.get(hst.cpu.key)
    if current is None:
        raise NsscopeError(f"pid {pid} is in no cgroup of the {hst.cpu.mountpoint} hierarchy")
    move: tuple[int, ...] = ()
    dests: dict[str, str] = {}
    top = current in ("/", hst.cpu.root)
    if target.cgroup is not None:
        cgroup = target.cgroup
        reason = f"container {target.container or target.pid}'s own cgroup"
    else:
        members = cgroups.read_procs(hst.dir(current))
        family = [pid, *processes.descendants(pid, roots.proc)]
        kin = set(family)
        others = [m for m in members if m not in kin]
        if own_ok and not top and not others:
            cgroup = current
            reason = (f"pid {pid} has cgroup {current} to itself"
                      + (" and its descendants" if len(members) > 1 else ""))
        else:
            inside = set(members)
            move = tuple(m for m in family if m in inside) if tree else (pid,)
            if not others:
                where = f"cgroup {current}"
            elif top:
                where = f"the root cgroup with {len(others)} other processes"
            else:
                where = (f"cgroup {current} with {len(others)} other "
                         f"process{'es' if len(others) != 1 else ''}")
            what = f"it and {len(move) - 1} descendant(s)" if len(move) > 1 else "it"
            if hst.version == 2 and not top:
                left = _v2_limits_left(hst, current, limit)
                cgroup = throttle_cgroup("/", pid)
                if left and not force:
                    raise NsscopeError(
                        f"pid {pid} shares {where}; on cgroup v2 no cgroup with the cpu "
                        f"controller can be made beneath a cgroup that holds processes "
                        f"(cgroup-v2.rst, no internal process constraint), and moving "
                        f"{what} to {cgroup} would take it out of {', '.join(left)}: "
                        "refused (--force moves it anyway; or limit its container)")
                reason = (f"pid {pid} shares {where}: moved {what} to {cgroup} (cgroup v2 "
                          f"allows no limited cgroup beneath {current}, which holds "
                          "processes" + (f"; this takes it out of {', '.join(left)}, as "
                                         "--force asked" if left else
                                         "; no limit of it binds there") + ")")
                dests = {hst.cpu.key: cgroup}
            else:
                origin = p.cgroups
                dests = {h.key: throttle_cgroup(origin[h.key], pid)
                         for h in hierarchies_of(hst) if h.key in origin}
                cgroup = dests[hst.cpu.key]
                reason = f"pid {pid} shares {where}: moved {what} to {cgroup}"
                if not top:
                    reason += f" (beneath it: {current}'s limits still bind it)"
                    cpus, by = effective_limit(hst, current)
                    if limit is not None and cpus is not None and hst.version == 1 and \
                            (limit.cpus is None or limit.cpus > cpus + 1e-9):
                        # v1 refuses a quota above an ancestor's (tg_cfs_schedulable_down)
                        raise NsscopeError(
                            f"pid {pid} is in {current}, held to {100 * cpus:g}% by {by}: a "
                            f"limit of {limit} beneath it cannot be more than that (cgroup "
                            "v1 refuses a quota above an ancestor's, sched-bwc.rst); limit "
                            f"{by} itself, or ask for at most {100 * cpus:g}%")
    enable: tuple[str, ...] = ()
    if hst.version == 2:
        # a moved process goes to /nsscope/throttle-PID: +cpu is needed in / and /nsscope
        need, impossible = _v2_enable_path(hst, cgroup)
        if impossible is not None:
            if target.cgroup is not None or move:
                raise NsscopeError(f"cannot limit {cgroup}: {impossible}")
            # its own cgroup cannot get the controller: a cgroup of nsscope's instead
            moved = plan(target, hst, tree=tree, roots=roots, systemd_dir=systemd_dir,
                         own_ok=False, force=force, limit=limit)
            return replace(moved, reason=f"{impossible}; moved pid {pid} to {moved.cgroup} "
                                         "instead")
        enable = tuple(need)
    unit = unit_of(cgroup) if not move and systemd_booted(systemd_dir) else None
    return Placement(cgroup=cgroup, move=move, origins=origins(list(move), hst, roots.proc),
                reason=reason, enable=enable, unit=unit, dests=dests)

def hierarchies_of(hst: Host) -> tuple[Hierarchy, ...]:
    return (hst.cpu, *hst.companions)



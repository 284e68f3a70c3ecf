"""The immutable picture of a host: processes, namespaces, cgroups.

Readers (``processes``, ``namespaces``, ``cgroups``) build these records;
views (CLI tables, JSON, the TUI) only read them.

The records are typed tuples (``nsscope.records.Record``: a NamedTuple for the
type checker), not dataclasses: a read-only view such as ``nsscope ls`` must
start about as fast as lsns, and ten frozen dataclasses cost ~13 ms to define
(each compiles its generated methods) on top of ~15 ms of imports (dataclasses
pulls in inspect, re, enum …). Build one with keywords or every field
positionally; ``_replace`` and ``_asdict`` as a namedtuple's (``_asdict`` is
shallow).
"""

from __future__ import annotations

from nsscope.kernel.abi import NS_LINKS, NS_TYPES  # noqa: F401 (the model's vocabulary)
from nsscope.records import Record

# `typing` and collections.abc cost ~4 ms of start-up; mypy treats any
# TYPE_CHECKING as true
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping

#: the namespaces a container normally has of its own: sharing one of them with
#: the host (``docker run --network host``) is worth showing
ISOLATING: tuple[str, ...] = ("pid", "net", "ipc", "uts", "mnt")


class Container(Record):
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
    #: when the runtime made it, seconds since the epoch, where its record says
    #: (docker's Created, nsscope run's record); None: not known
    created: float | None = None
    #: when a stopped container's PID 1 ended (docker State.FinishedAt, nsscope run's
    #: record), seconds since the epoch
    finished_at: float | None = None
    #: the command its runtime started (a stopped container has no process to ask)
    command: str | None = None

    @property
    def key(self) -> str:
        """Unique among a snapshot's containers (ids of different runtimes may clash)."""
        return f"{self.runtime}:{self.id}"

    @property
    def host_ns_label(self) -> str:
        """'net=host,pid=host' for the isolating namespaces shared with the host."""
        return ",".join(f"{t}=host" for t in ISOLATING if t in self.shares_host)


#: cgroup v2's key in /proc/PID/cgroup ("0::/path") and in ``Process.cgroups``.
UNIFIED = ""


class Process(Record):
    pid: int
    ppid: int
    #: owner of /proc/PID (the effective uid; root for non-dumpable), as lsns reports
    uid: int
    comm: str
    cmdline: tuple[str, ...]
    #: one-letter state from /proc/PID/stat (R S D Z T t X I …)
    state: str
    #: start time in clock ticks after boot (field 22 of /proc/PID/stat);
    #: with the pid, it names one process for good (pids are reused)
    starttime: int
    kernel_thread: bool
    #: link name (``NS_LINKS``) -> namespace inode; empty when not visible
    ns: Mapping[str, int]
    #: hierarchy key (v1 controllers as in /proc/PID/cgroup, e.g. "cpu,cpuacct"
    #: or "name=systemd"; ``UNIFIED`` for v2) -> cgroup path
    cgroups: Mapping[str, str]
    #: False when the kernel refused to show its namespaces (ptrace access mode)
    visible: bool = True

    @property
    def command(self) -> str:
        """The command line as lsns shows it: argv joined, else the comm."""
        return " ".join(self.cmdline) if self.cmdline else self.comm

    def cgroup_for(self, controller: str) -> str | None:
        """The cgroup path that governs ``controller`` ("cpu", "memory", …)."""
        for key, path in self.cgroups.items():
            if key and controller in key.split(","):
                return path
        return self.cgroups.get(UNIFIED)


class Namespace(Record):
    ino: int
    type: str
    #: member processes (by their ``type`` link, not ``*_for_children``), ascending
    pids: tuple[int, ...]
    #: the user namespace owning it (NS_GET_USERNS); None when unknown or for
    #: the initial user namespace
    owner: int | None = None
    #: parent pid/user namespace (NS_GET_PARENT); None at the top or unknown
    parent: int | None = None
    #: for user namespaces: the uid that created it (NS_GET_OWNER_UID)
    owner_uid: int | None = None
    #: nsfs bind mounts that keep it (e.g. /run/netns/NAME from ``ip netns add``)
    nsfs: tuple[str, ...] = ()
    #: other things keeping it alive with no member process: /proc/PID/fd/N of a
    #: holder, or /proc/PID/ns/pid_for_children of a process that unshared
    holders: tuple[str, ...] = ()
    #: the netns id as the network stack sees it from the caller's netns
    netnsid: int | None = None

    @property
    def nprocs(self) -> int:
        return len(self.pids)

    @property
    def pid(self) -> int | None:
        return self.pids[0] if self.pids else None


class Pressure(Record):
    """A PSI line set (``cpu.pressure`` or /proc/pressure/cpu): avg10/60/300 in %, total in µs."""

    some_avg10: float
    some_avg60: float
    some_avg300: float
    some_total: int
    full_avg10: float | None = None
    full_total: int | None = None


class CpuStats(Record):
    """CPU figures normalised to µs, whatever the cgroup version.

    v1 ``cpuacct.usage`` and ``throttled_time`` are in ns, v2 ``usage_usec`` and
    ``throttled_usec`` in µs; v1 ``cpuacct.stat`` user/system in USER_HZ ticks.
    ``cgroups.cpu_v1``/``cpu_v2`` build it positionally (one per cgroup per refresh):
    a field added or moved here is added or moved there too.
    """

    usage_usec: int | None = None
    user_usec: int | None = None
    system_usec: int | None = None
    nr_periods: int | None = None
    nr_throttled: int | None = None
    throttled_usec: int | None = None
    #: quota per period in µs; None is unlimited ("max" / -1)
    quota_usec: int | None = None
    period_usec: int | None = None
    #: v2 cpu.weight (1-10000, default 100)
    weight: int | None = None
    #: v1 cpu.shares (2-262144, default 1024)
    shares: int | None = None
    pressure: Pressure | None = None

    @property
    def limit_cpus(self) -> float | None:
        """The quota as a number of CPUs (0.2 = 20 %), None when unlimited."""
        if self.quota_usec is None or not self.period_usec:
            return None
        return self.quota_usec / self.period_usec


class MemoryStats(Record):
    current: int | None = None
    #: None is unlimited
    max: int | None = None


class PidsStats(Record):
    current: int | None = None
    max: int | None = None


class IoStats(Record):
    """Bytes read from and written to block devices by the cgroup, since it was made,
    summed over the devices (``docker stats``' BLOCK I/O)."""

    read_bytes: int | None = None
    write_bytes: int | None = None


class Cgroup(Record):
    """One cgroup path, merged over the hierarchies it exists in.

    On v2 that is the single unified hierarchy. On v1 the same path may exist
    in several controller hierarchies (cpu, cpuacct, memory, …); figures come
    from the hierarchy of their controller, members are the union.
    """

    path: str
    #: hierarchy keys (as in ``Process.cgroups``) where this path exists
    hierarchies: tuple[str, ...]
    #: member processes (cgroup.procs), ascending
    procs: tuple[int, ...]
    cpu: CpuStats | None = None
    memory: MemoryStats | None = None
    pids: PidsStats | None = None
    #: read by ``nsscope top`` only (CpuReader io=True)
    io: IoStats | None = None

    @property
    def parent_path(self) -> str | None:
        if self.path == "/":
            return None
        head = self.path.rsplit("/", 1)[0]
        return head or "/"

    @property
    def name(self) -> str:
        return self.path.rsplit("/", 1)[-1] or "/"


class Hierarchy(Record):
    """A mounted cgroup hierarchy."""

    #: the key /proc/PID/cgroup uses ("cpu", "cpu,cpuacct", "name=systemd", "" for v2)
    key: str
    version: int
    controllers: tuple[str, ...]
    #: where its root is, in the (possibly injected) filesystem
    mountpoint: str
    #: the mount's root within the hierarchy (mountinfo field 4), usually "/"
    root: str = "/"


class Snapshot(Record):
    """Everything nsscope knows about the host at one moment."""

    processes: Mapping[int, Process]
    namespaces: Mapping[int, Namespace]
    cgroups: Mapping[str, Cgroup]
    #: "unified", "hybrid", "legacy" or "none"
    cgroup_mode: str
    hierarchies: tuple[Hierarchy, ...]
    #: namespace type -> the host's (initial) namespace inode
    host_ns: Mapping[str, int]
    #: seconds since boot at collection (for rates); CLOCK_BOOTTIME-like
    uptime: float
    #: whole-host PSI from /proc/pressure/cpu when present
    cpu_pressure: Pressure | None = None
    #: pids whose details were hidden by the kernel
    hidden: tuple[int, ...] = ()
    #: containers and sandboxes (nsscope.host.containers.find), sorted by runtime and name
    containers: tuple[Container, ...] = ()

    @staticmethod
    def freeze(d: dict) -> Mapping:
        """A read-only view of ``d`` (types.MappingProxyType, without importing types)."""
        return _MappingProxy(d)

    def namespaces_of(self, pid: int) -> dict[str, Namespace]:
        proc = self.processes[pid]
        return {t: self.namespaces[ino] for t, ino in proc.ns.items() if ino in self.namespaces}

    def is_host(self, ns: Namespace) -> bool:
        return self.host_ns.get(ns.type) == ns.ino

    def container_of(self, pid: int) -> Container | None:
        """The container (or sandbox) ``pid`` belongs to, if any."""
        for c in self.containers:
            if pid in c.pids:
                return c
        return None


#: types.MappingProxyType, which is the type of any class's __dict__ (importing
#: ``types`` costs ~0.5 ms for this one name)
_MappingProxy = type(Record.__dict__)


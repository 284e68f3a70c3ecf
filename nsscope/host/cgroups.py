"""cgroup hierarchies: the mode, the mounts, the tree and its figures.

Both versions are read into one normalised model (``CpuStats`` in µs and so
on). References: Documentation/admin-guide/cgroup-v2.rst (v2 files),
Documentation/scheduler/sched-bwc.rst (CFS bandwidth: cfs_quota_us,
nr_throttled, throttled_time), Documentation/admin-guide/cgroup-v1/.
"""

from __future__ import annotations

import os

from nsscope.host import mountinfo
from nsscope.kernel import abi
from nsscope.host.model import (UNIFIED, Cgroup, CpuStats, Hierarchy, IoStats, MemoryStats,
                                PidsStats, Pressure)
from nsscope.kernel.abi import CGROUP_ROOT, PROC

# collections.abc costs ~2 ms of every view's start-up; mypy treats any
# TYPE_CHECKING as true
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Collection, Iterator, Mapping


#: USER_HZ, the unit of cpuacct.stat (sysconf(_SC_CLK_TCK))
USER_HZ = os.sysconf("SC_CLK_TCK")


# --- mode and mounts ---------------------------------------------------------

def hierarchies(cgroup_root: str = CGROUP_ROOT, proc: str = PROC) -> tuple[Hierarchy, ...]:
    """The cgroup hierarchies mounted under ``cgroup_root`` (mountinfo.cgroup_hierarchies).

    Mountpoints are taken from the mount table and re-rooted at
    ``cgroup_root``, so a captured tree (cgroup_root=fixture/sys/fs/cgroup)
    maps the same way as the live one.
    """
    return tuple(Hierarchy(key=key, version=version, controllers=controllers,
                           mountpoint=where, root=root)
                 for key, version, controllers, where, root
                 in mountinfo.cgroup_hierarchies(cgroup_root, proc))


def detect_mode(cgroup_root: str = CGROUP_ROOT, proc: str = PROC) -> str:
    """'unified', 'hybrid', 'legacy' or 'none'.

    Like systemd (src/basic/cgroup-util.c cg_unified_cached) and runc
    (libcontainer/cgroups/utils.go IsCgroup2UnifiedMode): statfs() the root; a
    cgroup2 magic is unified, a tmpfs with cgroup2 at ``unified/`` is hybrid,
    a tmpfs without is legacy. A captured tree is not a cgroupfs: its mode is
    read from its mount table instead.
    """
    # imported here: statfs goes through libc (a dlopen), and `nsscope ps` reads
    # the hierarchies but not the mode
    from nsscope.kernel import syscalls
    try:
        magic = syscalls.statfs_magic(cgroup_root)
    except OSError:
        return "none"
    if magic == abi.CGROUP2_SUPER_MAGIC:
        return "unified"
    if magic == abi.TMPFS_MAGIC:
        try:
            unified = syscalls.statfs_magic(os.path.join(cgroup_root, "unified"))
        except OSError:
            unified = 0
        return "hybrid" if unified == abi.CGROUP2_SUPER_MAGIC else "legacy"
    hs = hierarchies(cgroup_root, proc)
    v1 = any(h.version == 1 for h in hs)
    v2 = [h for h in hs if h.version == 2]
    if v2 and not v1:
        return "unified"
    if v2 and v1:
        return "hybrid"
    return "legacy" if v1 else "none"


# --- file readers -------------------------------------------------------------

#: a cgroupfs seq_file read(2) returns at most a page, whole records only
#: (fs/seq_file.c): cgroup.procs of a cgroup with ~700 processes or more takes
#: several reads. A chunk shorter than this cannot have stopped for want of
#: room (no record is this long), so it ends the file without one more read(2).
_SHORT_READ = 2048


def read_fd(fd: int, pread: bool = False) -> bytes:
    """The whole file behind ``fd`` (from offset 0 with ``pread``)."""
    data = os.pread(fd, 65536, 0) if pread else os.read(fd, 65536)
    if len(data) < _SHORT_READ:
        return data
    chunks = [data]
    off = len(data)
    while True:
        data = os.pread(fd, 65536, off) if pread else os.read(fd, 65536)
        if not data:
            return b"".join(chunks)
        chunks.append(data)
        off += len(data)


def read_text(path: str) -> str | None:
    """A cgroup file's text (one read loop on an fd), None if it cannot be read."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        return read_fd(fd).decode("utf-8", "replace")
    except OSError:
        return None
    finally:
        os.close(fd)


def _int(text: str | None) -> int | None:
    if text is None:
        return None
    text = text.strip()
    if text == "max":
        return None
    try:
        return int(text)
    except ValueError:
        return None


def _keyed(text: str | None) -> dict[str, int]:
    out: dict[str, int] = {}
    if text:
        for line in text.splitlines():
            k, _, v = line.partition(" ")
            try:
                out[k] = int(v)
            except ValueError:
                pass
    return out


def parse_pressure(text: str | None) -> Pressure | None:
    """A PSI file: 'some avg10=0.00 avg60=0.00 avg300=0.00 total=0' (+ 'full …')."""
    if not text:
        return None
    vals: dict[str, dict[str, str]] = {}
    for line in text.splitlines():
        kind, *pairs = line.split()
        vals[kind] = dict(p.split("=", 1) for p in pairs)
    some = vals.get("some")
    if not some:
        return None
    full = vals.get("full")
    return Pressure(some_avg10=float(some["avg10"]), some_avg60=float(some["avg60"]),
                    some_avg300=float(some["avg300"]), some_total=int(some["total"]),
                    full_avg10=float(full["avg10"]) if full else None,
                    full_total=int(full["total"]) if full else None)


def parse_cpu_max(text: str | None) -> tuple[int | None, int | None]:
    """v2 cpu.max '$MAX $PERIOD' -> (quota µs or None for 'max', period µs)."""
    if not text:
        return None, None
    parts = text.split()
    quota = None if parts[0] == "max" else int(parts[0])
    period = int(parts[1]) if len(parts) > 1 else 100000
    return quota, period


def read_procs(path: str, *, read: Callable[[str], str | None] = read_text) -> tuple[int, ...]:
    text = read(os.path.join(path, "cgroup.procs"))
    if not text:
        return ()
    return tuple(sorted(map(int, text.split())))


def cpu_v2(path: str, *, read: Callable[[str], str | None] = read_text) -> CpuStats:
    stat = _keyed(read(path + "/cpu.stat"))
    quota, period = parse_cpu_max(read(path + "/cpu.max"))
    g = stat.get
    # positional, in CpuStats' order (usage, user, system, nr_periods, nr_throttled,
    # throttled, quota, period, weight, shares, pressure): a record built by keyword
    # costs a Python loop, and nsscope top makes one per cgroup per refresh
    return CpuStats(g("usage_usec"), g("user_usec"), g("system_usec"), g("nr_periods"),
                    g("nr_throttled"), g("throttled_usec"), quota, period,
                    _int(read(path + "/cpu.weight")), None,
                    parse_pressure(read(path + "/cpu.pressure")))


def cpu_v1(cpu_path: str | None, cpuacct_path: str | None, *,
           read: Callable[[str], str | None] = read_text) -> CpuStats:
    """From the v1 cpu (bandwidth, shares) and cpuacct (usage) hierarchies."""
    usage = user = system = None
    periods = throttled = throttled_usec = quota = period = shares = None
    pressure = None
    if cpuacct_path is not None:
        ns = _int(read(cpuacct_path + "/cpuacct.usage"))
        usage = ns // 1000 if ns is not None else None  # cpuacct.usage is in ns
        ticks = _keyed(read(cpuacct_path + "/cpuacct.stat"))  # in USER_HZ
        if "user" in ticks:
            user = ticks["user"] * 1_000_000 // USER_HZ
            system = ticks.get("system", 0) * 1_000_000 // USER_HZ
    if cpu_path is not None:
        stat = _keyed(read(cpu_path + "/cpu.stat"))
        periods, throttled = stat.get("nr_periods"), stat.get("nr_throttled")
        if "throttled_time" in stat:  # v1 throttled_time is in ns, v2 throttled_usec in µs
            throttled_usec = stat["throttled_time"] // 1000
        q = _int(read(cpu_path + "/cpu.cfs_quota_us"))
        quota = None if q is None or q < 0 else q  # -1 is unlimited
        period = _int(read(cpu_path + "/cpu.cfs_period_us"))
        shares = _int(read(cpu_path + "/cpu.shares"))
        # with CONFIG_PSI and cgroup v1, the cpu controller has cpu.pressure only
        # when booted with psi_v1 (kernel/sched/psi.c); usually absent
        pressure = parse_pressure(read(cpu_path + "/cpu.pressure"))
    # positional, in CpuStats' order (as cpu_v2; weight is v2's)
    return CpuStats(usage, user, system, periods, throttled, throttled_usec, quota, period,
                    None, shares, pressure)


def memory_v2(path: str, *, read: Callable[[str], str | None] = read_text) -> MemoryStats:
    return MemoryStats(_int(read(path + "/memory.current")), _int(read(path + "/memory.max")))


# v1 memory.limit_in_bytes reads PAGE_COUNTER_MAX rounded to pages when unlimited
_V1_UNLIMITED = 0x7FFFFFFFFFFFF000


def memory_v1(path: str, *, read: Callable[[str], str | None] = read_text) -> MemoryStats:
    limit = _int(read(path + "/memory.limit_in_bytes"))
    if limit is not None and limit >= _V1_UNLIMITED:
        limit = None
    return MemoryStats(_int(read(path + "/memory.usage_in_bytes")), limit)


def memory_stat(path: str, *, read: Callable[[str], str | None] = read_text
                ) -> dict[str, int] | None:
    """The memory controller's memory.stat in cgroup directory ``path`` ('key value'
    lines), None when it has none. Keys are the kernel's: on v2 ``inactive_file`` and so
    on; on v1 the cgroup's own (``inactive_file``) and its subtree's
    (``total_inactive_file``) (cgroup-v2.rst "memory.stat", cgroup-v1/memory.rst 5.2).
    Read on demand only: the kernel formats some forty lines for it, more than the rest
    of a cgroup's figures."""
    text = read(path + "/memory.stat")
    return _keyed(text) if text else None


def pids_stats(path: str, *, read: Callable[[str], str | None] = read_text) -> PidsStats:
    return PidsStats(_int(read(path + "/pids.current")), _int(read(path + "/pids.max")))


def io_v2(path: str, *, read: Callable[[str], str | None] = read_text) -> IoStats | None:
    """io.stat's rbytes and wbytes summed over the devices (cgroup-v2.rst "io.stat":
    one line per device, "MAJ:MIN rbytes=… wbytes=… rios=…"); None without the file."""
    text = read(path + "/io.stat")
    if text is None:
        return None
    r = w = 0
    for line in text.splitlines():
        for field in line.split()[1:]:
            key, _, value = field.partition("=")
            if key == "rbytes":
                r += int(value)
            elif key == "wbytes":
                w += int(value)
    return IoStats(r, w)


def io_v1(path: str, *, read: Callable[[str], str | None] = read_text) -> IoStats | None:
    """blkio.throttle.io_service_bytes's Read and Write lines summed over the devices
    (cgroup-v1/blkio-controller.rst: "MAJ:MIN Read N" …, then "Total N"; counted by the
    throttling layer, so for every cgroup whatever its policy). None without the file."""
    text = read(path + "/blkio.throttle.io_service_bytes")
    if text is None:
        return None
    r = w = 0
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[1] == "Read":
            r += int(parts[2])
        elif len(parts) == 3 and parts[1] == "Write":
            w += int(parts[2])
    return IoStats(r, w)


# --- the tree -----------------------------------------------------------------

def walk(mountpoint: str) -> Iterator[tuple[str, str]]:
    """(cgroup path, directory) for every cgroup under a hierarchy root, parents first."""
    stack = [("/", False)]
    while stack:
        rel, leaf = stack.pop()
        d = mountpoint if rel == "/" else mountpoint + rel
        yield rel, d
        if leaf:
            continue
        try:
            with os.scandir(d) as it:
                subs = sorted((e.name, _no_subdirs(e)) for e in it
                              if e.is_dir(follow_symlinks=False))
        except OSError:
            continue
        base = "" if rel == "/" else rel
        stack.extend((f"{base}/{name}", no_subdirs) for name, no_subdirs in reversed(subs))


def _no_subdirs(entry: os.DirEntry) -> bool:
    """True when a directory surely has no subdirectory, so it need not be listed.

    A directory's st_nlink is 2 + its subdirectories on kernfs, as on ext4
    (fs/kernfs/inode.c kernfs_refresh_inode: set_nlink(inode, subdirs + 2)):
    one fstatat(2) instead of listing a leaf cgroup's dozen files. Filesystems
    that do not count (btrfs, overlayfs merged dirs report 1) are listed.
    """
    try:
        return entry.stat(follow_symlinks=False).st_nlink == 2
    except OSError:
        return False


def cgroup_path_of(h: Hierarchy, rel: str) -> str:
    """The path /proc/PID/cgroup would show for directory ``rel`` of ``h``."""
    if h.root == "/":
        return rel
    return h.root if rel == "/" else h.root + rel


def dir_of(h: Hierarchy, path: str) -> str | None:
    """The directory of cgroup ``path`` (as /proc/PID/cgroup shows it) in hierarchy ``h``.

    None when the path lies outside the part of the hierarchy mounted here
    (a mount whose root is not '/', as inside a cgroup namespace).
    """
    if h.root == "/":
        rel = path
    elif path == h.root:
        rel = "/"
    elif path.startswith(h.root + "/"):
        rel = path[len(h.root):]
    else:
        return None
    return h.mountpoint if rel == "/" else h.mountpoint + rel


def hierarchy_for(hs: tuple[Hierarchy, ...], controller: str) -> Hierarchy | None:
    """The hierarchy whose ``controller`` governs processes.

    A v1 hierarchy carrying it (alone or co-mounted, as cpu,cpuacct) wins; else
    the unified one when its root lists it in cgroup.controllers (on a hybrid
    host a controller is bound to one hierarchy only: cgroup-v2.rst "Mounting").
    """
    for h in hs:
        if h.version == 1 and controller in h.controllers:
            return h
    for h in hs:
        if h.version == 2 and controller in h.controllers:
            return h
    return None


def cpu_hierarchy(hs: tuple[Hierarchy, ...]) -> Hierarchy | None:
    """The hierarchy whose cpu controller enforces bandwidth (cfs_quota_us / cpu.max)."""
    return hierarchy_for(hs, "cpu")


def _dir_for(dirs: dict[str, str], by_key: dict[str, Hierarchy], controller: str) -> str | None:
    for key, d in dirs.items():
        h = by_key[key]
        if controller in h.controllers and h.version == 1:
            return d
    if UNIFIED in dirs and controller in by_key[UNIFIED].controllers:
        return dirs[UNIFIED]
    return None


def _record(path: str, dirs: dict[str, str], by_key: dict[str, Hierarchy], figures: bool,
            controllers: frozenset[str] | None, members: bool = True,
            procs_of: Mapping[str, tuple[int, ...]] | None = None,
            read: Callable[[str], str | None] = read_text) -> Cgroup:
    """One ``Cgroup`` from its directories in each hierarchy (key -> dir)."""
    procs: set[int] = set()
    for d in dirs.values() if members and procs_of is None else ():
        procs.update(read_procs(d, read=read))
    cpu = memory = pids = None
    if figures:
        v2 = dirs.get(UNIFIED)
        if controllers is None or "cpu" in controllers:
            cpu_dir, acct_dir = _dir_for(dirs, by_key, "cpu"), _dir_for(dirs, by_key, "cpuacct")
            if cpu_dir is not None and cpu_dir == v2:
                cpu = cpu_v2(v2, read=read)
            elif cpu_dir is not None or acct_dir is not None:
                cpu = cpu_v1(cpu_dir, acct_dir, read=read)
                if v2 is not None:
                    cpu = with_unified(cpu, v2, read=read)
            elif v2 is not None:
                # cpu.stat (usage) exists in every v2 cgroup, controller enabled or not
                cpu = cpu_v2(v2, read=read)
        if controllers is None or "memory" in controllers:
            mem_dir = _dir_for(dirs, by_key, "memory")
            if mem_dir is not None:
                memory = (memory_v2 if mem_dir == v2 else memory_v1)(mem_dir, read=read)
        if controllers is None or "pids" in controllers:
            pids_dir = _dir_for(dirs, by_key, "pids")
            if pids_dir is not None:
                pids = pids_stats(pids_dir, read=read)
    members_now = procs_of.get(path, ()) if procs_of is not None else tuple(sorted(procs))
    return Cgroup(path, tuple(dirs), members_now, cpu, memory, pids)


def with_unified(cpu: CpuStats, v2: str, *, read: Callable[[str], str | None] = read_text
                  ) -> CpuStats:
    """v1 cpu figures completed from the same path in a hybrid host's unified hierarchy.

    PSI follows a task's cgroup2 membership whatever the controllers
    (kernel/sched/psi.c uses task_dfl_cgroup()), and every cgroup2 directory
    has cpu.stat usage_usec (cgroup core's rstat, cgroup-v2.rst "cpu.stat"),
    so a cgroup that also exists on cgroup2 has PSI even where v1 has none.
    """
    pressure = cpu.pressure or parse_pressure(read(v2 + "/cpu.pressure"))
    usage = cpu.usage_usec
    if usage is None:
        usage = _keyed(read(v2 + "/cpu.stat")).get("usage_usec")
    if pressure is cpu.pressure and usage == cpu.usage_usec:
        return cpu
    return cpu._replace(pressure=pressure, usage_usec=usage)


def build(hs: tuple[Hierarchy, ...], *, figures: bool = True,
          controllers: Collection[str] | None = None,
          members: bool = True,
          procs_of: Mapping[str, tuple[int, ...]] | None = None,
          read: Callable[[str], str | None] = read_text) -> dict[str, Cgroup]:
    """Every cgroup path, merged across hierarchies, with members and figures.

    ``controllers`` limits the figures read to those controllers' ("cpu",
    "memory", "pids"); a refreshing view such as ``nsscope top`` reads only cpu.
    ``members=False`` leaves ``procs`` empty: the kernel makes each cgroup.procs
    by walking the cgroup's tasks, so on a v1 host with ten hierarchies the
    root's alone is ten walks of every task; the TUI's sampler takes members
    from the processes' /proc/PID/cgroup instead, and gives them as
    ``procs_of`` (path -> pids, ascending; a path it lacks has none), and reads
    the files through descriptors it keeps open (``read``: kept_files.KeptFiles).
    """
    where: dict[str, dict[str, str]] = {}  # path -> hierarchy key -> dir
    for h in hs:
        for rel, d in walk(h.mountpoint):
            where.setdefault(cgroup_path_of(h, rel), {})[h.key] = d
    by_key = {h.key: h for h in hs}
    only = frozenset(controllers) if controllers is not None else None
    return {path: _record(path, where[path], by_key, figures, only, members, procs_of, read)
            for path in sorted(where)}


def read_cgroup(hs: tuple[Hierarchy, ...], path: str, *, figures: bool = True,
                controllers: Collection[str] | None = None) -> Cgroup | None:
    """One cgroup, read like ``build`` reads every one; None if it exists in no hierarchy."""
    dirs = {}
    for h in hs:
        d = dir_of(h, path)
        if d is not None and os.path.isdir(d):
            dirs[h.key] = d
    if not dirs:
        return None
    only = frozenset(controllers) if controllers is not None else None
    return _record(path, dirs, {h.key: h for h in hs}, figures, only)


def host_pressure(proc: str = PROC) -> Pressure | None:
    """Whole-host CPU PSI (/proc/pressure/cpu), when the kernel has PSI enabled."""
    return parse_pressure(read_text(f"{proc}/pressure/cpu"))

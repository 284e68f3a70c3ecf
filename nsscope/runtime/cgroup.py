"""A container's cgroup: ``/nsscope/<id>`` in every mounted hierarchy, v1 and v2.

Like runc with an explicit ``cgroupsPath``, the path is absolute in each
hierarchy, never below the caller's own cgroup (here that is the machine's
``/process_api/…`` in the memory hierarchy, which nsscope must not touch). The
cgroup is made and limited before PID 1 is moved in, and PID 1 is moved in
before it unshares its cgroup namespace and before CMD runs.

References: Documentation/admin-guide/cgroup-v2.rst (cpu.max, memory.max,
pids.max, cgroup.subtree_control, cgroup.kill), Documentation/scheduler/
sched-bwc.rst (cfs_quota_us / cfs_period_us), Documentation/admin-guide/
cgroup-v1/{memory,cpusets,pids}.rst.
"""

from __future__ import annotations

import errno
import os
import signal
import time

from nsscope import cgroups
from nsscope.errors import NsscopeError
from nsscope.model import Hierarchy
from nsscope.processes import PROC
from nsscope.runtime.spec import CPU_PERIOD_US, Limits
from nsscope.runtime.state import CGROUP_PARENT

#: v2 controllers enabled down the tree for a container (those it may be limited by)
V2_CONTROLLERS = ("cpu", "cpuset", "memory", "pids")


def write_file(path: str, value: str) -> None:
    """One write(2) of ``value``: the kernel's EINVAL/EBUSY surfaces here, not at close."""
    fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
    try:
        os.write(fd, value.encode())
    finally:
        os.close(fd)


def read_file(path: str) -> str:
    with open(path) as f:
        return f.read().strip()


class ContainerCgroup:
    """``/nsscope/<id>`` across the hierarchies mounted under ``cgroup_root``."""

    def __init__(self, cid: str, cgroup_root: str = cgroups.CGROUP_ROOT,
                 proc: str = PROC) -> None:
        self.id = cid
        self.path = f"{CGROUP_PARENT}/{cid}"
        self.hierarchies: tuple[Hierarchy, ...] = cgroups.hierarchies(cgroup_root, proc)
        #: hierarchy key -> directory of this cgroup
        self.dirs = {h.key: h.mountpoint + self.path for h in self.hierarchies}

    # --- finding files ---------------------------------------------------------

    def dir_for(self, controller: str) -> str | None:
        """The directory whose files govern ``controller`` (v1 first, then v2 if enabled)."""
        for h in self.hierarchies:
            if h.version == 1 and controller in h.controllers:
                return self.dirs[h.key]
        for h in self.hierarchies:
            if h.version == 2 and controller in h.controllers:
                return self.dirs[h.key]
        return None

    def v2_dir(self) -> str | None:
        for h in self.hierarchies:
            if h.version == 2:
                return self.dirs[h.key]
        return None

    def is_v2(self, controller: str) -> bool:
        d = self.dir_for(controller)
        return d is not None and d == self.v2_dir()

    # --- creation ---------------------------------------------------------------

    def create(self, limits: Limits) -> None:
        """mkdir in every hierarchy, then write the limits; on any refusal remove it all."""
        if not self.hierarchies:
            raise NsscopeError("no cgroup hierarchy is mounted under /sys/fs/cgroup")
        try:
            for h in self.hierarchies:
                self._mkdir(h)
            self._limit(limits)
        except BaseException:
            self.remove(timeout=1.0)
            raise

    def _mkdir(self, h: Hierarchy) -> None:
        parent = h.mountpoint + CGROUP_PARENT
        for _ in range(20):
            try:
                os.mkdir(parent)
            except FileExistsError:
                pass
            try:
                self._prepare_parent(h, parent)
                os.mkdir(self.dirs[h.key])
                break
            except FileNotFoundError:
                # another container's cleanup removed the empty parent just now: again
                continue
        else:
            raise NsscopeError(f"cannot create {self.dirs[h.key]}")
        if h.version == 1 and "cpuset" in h.controllers:
            _cpuset_init(self.dirs[h.key], parent)

    def _prepare_parent(self, h: Hierarchy, parent: str) -> None:
        if h.version == 1:
            if "cpuset" in h.controllers:
                # a new v1 cpuset starts with no cpus and no mems, and a task cannot
                # join an empty one (ENOSPC, cgroup-v1/cpusets.rst 2.1)
                _cpuset_init(parent, h.mountpoint)
            return
        # v2: a controller is usable in a cgroup only when enabled in every
        # ancestor's cgroup.subtree_control, from the root down (cgroup-v2.rst
        # "Enabling and Disabling"); the root is exempt from the no-internal-process rule
        wanted = [c for c in V2_CONTROLLERS if c in h.controllers]
        for d in (h.mountpoint, parent):
            # FileNotFoundError (the parent vanished) makes _mkdir try again
            enabled = set(read_file(d + "/cgroup.subtree_control").split())
            for c in wanted:
                if c not in enabled:
                    try:
                        write_file(d + "/cgroup.subtree_control", f"+{c}")
                    except OSError as e:
                        raise NsscopeError(f"cannot enable the {c} controller in "
                                           f"{d}/cgroup.subtree_control: {e.strerror}") from None

    def _limit(self, limits: Limits) -> None:
        writes: list[tuple[str, str, str]] = []  # (controller, file name, value)
        if limits.cpu_quota_us is not None:
            if self.is_v2("cpu"):
                writes.append(("cpu", "cpu.max", f"{limits.cpu_quota_us} {CPU_PERIOD_US}"))
            else:
                writes.append(("cpu", "cpu.cfs_period_us", str(CPU_PERIOD_US)))
                writes.append(("cpu", "cpu.cfs_quota_us", str(limits.cpu_quota_us)))
        if limits.memory is not None:
            name = "memory.max" if self.is_v2("memory") else "memory.limit_in_bytes"
            writes.append(("memory", name, str(limits.memory)))
        if limits.pids is not None:
            writes.append(("pids", "pids.max", str(limits.pids)))
        if limits.cpuset is not None:
            writes.append(("cpuset", "cpuset.cpus", limits.cpuset))
        for controller, name, value in writes:
            d = self.dir_for(controller)
            if d is None:
                raise NsscopeError(f"no {controller} controller is available "
                                   f"(not mounted, or not enabled in cgroup v2)")
            try:
                write_file(f"{d}/{name}", value)
            except OSError as e:
                raise NsscopeError(f"the kernel refused {value!r} for {name}: "
                                   f"{e.strerror}") from None

    # --- members ------------------------------------------------------------------

    def attach(self, pid: int) -> None:
        """Move ``pid`` into the cgroup in every hierarchy."""
        for d in self.dirs.values():
            try:
                write_file(d + "/cgroup.procs", str(pid))
            except OSError as e:
                raise NsscopeError(f"cannot move pid {pid} into {d}: {e.strerror}") from None

    def procs(self) -> set[int]:
        out: set[int] = set()
        for d in self.dirs.values():
            out.update(cgroups.read_procs(d))
        return out

    def kill_all(self) -> None:
        """SIGKILL everything in the cgroup: cgroup.kill where the kernel has it (v2,
        5.14+, also the unified hierarchy of a hybrid host), else one by one until empty."""
        v2 = self.v2_dir()
        if v2 is not None and os.path.exists(v2 + "/cgroup.kill"):
            try:
                write_file(v2 + "/cgroup.kill", "1")
                return
            except OSError:
                pass
        for _ in range(100):
            pids = self.procs()
            if not pids:
                return
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            time.sleep(0.01)

    # --- removal --------------------------------------------------------------------

    def exists(self) -> bool:
        return any(os.path.isdir(d) for d in self.dirs.values())

    def remove(self, timeout: float = 5.0) -> list[str]:
        """rmdir in every hierarchy (retrying while exiting tasks leave), then the parent
        ``/nsscope`` where it is empty. Returns the directories that could not be removed."""
        deadline = time.monotonic() + timeout
        left = []
        for h in self.hierarchies:
            d = self.dirs[h.key]
            while True:
                try:
                    os.rmdir(d)
                    break
                except FileNotFoundError:
                    break
                except OSError as e:
                    # EBUSY: a killed task has not finished exiting (or a zombie not reaped)
                    if e.errno != errno.EBUSY or time.monotonic() > deadline:
                        left.append(d)
                        break
                    time.sleep(0.005)
            remove_parent(h)
        return left


def remove_parent(h: Hierarchy) -> None:
    """rmdir ``/nsscope`` in ``h`` if no other container uses it."""
    try:
        os.rmdir(h.mountpoint + CGROUP_PARENT)
    except OSError as e:
        if e.errno not in (errno.ENOENT, errno.EBUSY, errno.ENOTEMPTY):
            raise


def _cpuset_init(d: str, parent: str) -> None:
    for name in ("cpuset.cpus", "cpuset.mems"):
        if not read_file(f"{d}/{name}"):
            write_file(f"{d}/{name}", read_file(f"{parent}/{name}"))


def cgroup_ids(cgroup_root: str = cgroups.CGROUP_ROOT, proc: str = PROC) -> set[str]:
    """The ids of every ``/nsscope/<id>`` cgroup in any hierarchy (for gc)."""
    out: set[str] = set()
    for h in cgroups.hierarchies(cgroup_root, proc):
        try:
            with os.scandir(h.mountpoint + CGROUP_PARENT) as it:
                out.update(e.name for e in it if e.is_dir(follow_symlinks=False))
        except (FileNotFoundError, NotADirectoryError):
            continue
    return out


def limit_files(cg: ContainerCgroup) -> dict[str, str]:
    """The limit files' contents, by file name (what ``--cpus/--memory/--pids/--cpuset``
    write), read back from the kernel."""
    names = {"cpu": ("cpu.max",) if cg.is_v2("cpu") else ("cpu.cfs_quota_us",
                                                           "cpu.cfs_period_us"),
             "memory": ("memory.max",) if cg.is_v2("memory") else ("memory.limit_in_bytes",),
             "pids": ("pids.max",), "cpuset": ("cpuset.cpus",)}
    out = {}
    for controller, files in names.items():
        d = cg.dir_for(controller)
        for name in files:
            if d is not None and os.path.exists(f"{d}/{name}"):
                out[name] = read_file(f"{d}/{name}")
    return out

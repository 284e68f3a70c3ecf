"""A container's cgroup: ``/nsscope/<id>`` in the hierarchies it needs, v1 and v2.

Like runc with an explicit ``cgroupsPath``, the path is absolute in each
hierarchy, never below the caller's own cgroup (here that is the machine's
``/process_api/…`` in the memory hierarchy, which nsscope must not touch). The
cgroup is made and limited before PID 1 exists; PID 1 moves itself in before it
unshares its cgroup namespace, mounts anything or runs CMD.

Which hierarchies a container joins (a v2 host has one; this is for v1 and hybrid):

- ``cpu``, ``cpuacct``: --cpus, CPU usage and throttling (``nsscope top``) and a
  later ``nsscope throttle``;
- ``memory``: --memory, usage, the OOM killer's scope; it also takes the
  container out of the caller's memory cgroup;
- ``pids``: --pids (fork bombs), pids.current;
- ``devices``: runc's device rules (deny, then allow null zero full random
  urandom tty ptmx pts tun, and mknod of any), needed because the container
  keeps CAP_MKNOD as docker's default set does;
- ``freezer``: a race-free kill where v1 has no cgroup.kill (freeze, SIGKILL
  every task, thaw: runc's signalAllProcesses) and the "paused" state of ``ps``;
- ``cpuset`` only with --cpuset: a new v1 cpuset is empty, so joining one costs
  four writes and nothing of nsscope reads it otherwise;
- not blkio, net_cls, perf_event, hugetlb, rdma, named hierarchies
  (name=systemd) nor a hybrid host's unified hierarchy, unless a requested limit
  lives there: nothing of nsscope limits or reads them, and a v2 hierarchy
  costs the slow placement described next.

Placement: the supervisor opens ``tasks`` (v1) or ``cgroup.procs`` (v2) of each,
and PID 1 writes "0" (itself) into them before anything else. Moving a single
thread that is the writer itself skips the global cgroup_threadgroup_rwsem
(kernel/cgroup/cgroup.c, cgroup_procs_write_start: "If we migrate a single
thread, we don't care about threadgroup stability … we can skip the global
lock"), whose write side waits for an RCU grace period: 6-20 ms here, paid by
runc for every ``cgroup.procs`` write. PID 1 has one thread, so the process
moves whole. The permission check uses the opener's credentials
(``of->file->f_cred``, the fix of CVE-2021-4197), so it works from a user
namespace mapping root elsewhere. A v2 hierarchy only takes whole processes
(``cgroup.threads`` refuses to leave the thread's domain, EOPNOTSUPP), so
there it is ``cgroup.procs`` and the global lock.

References: Documentation/admin-guide/cgroup-v2.rst (cpu.max, memory.max,
pids.max, cgroup.subtree_control, cgroup.kill), Documentation/scheduler/
sched-bwc.rst (cfs_quota_us / cfs_period_us), Documentation/admin-guide/
cgroup-v1/{memory,cpusets,pids,devices,freezer-subsystem}.rst.

This module does not use nsscope.host.cgroups (the model's dataclasses, the
namespace readers and the socket module behind them cost ~25 ms of every
run's start-up); ``hierarchies`` here reads the same mount table the same way,
and a test holds the two to the same answer.
"""

from __future__ import annotations

import errno
import os
import time

from nsscope.host import mountinfo
from nsscope.kernel.syscalls import write_file
from nsscope.errors import NsscopeError
from nsscope.records import Record
from nsscope.actions.run.spec import CPU_PERIOD_US, Limits
from nsscope.host.runstate import CGROUP_PARENT
from nsscope.kernel.abi import CGROUP_ROOT, PROC
from nsscope.kernel.syscalls import signals as signal  # _signal: no enum import (syscalls.py)

#: v2 controllers enabled down the tree for a container (those it may be limited by)
V2_CONTROLLERS = ("cpu", "cpuset", "memory", "pids")
#: controllers whose hierarchy every container joins (see the module doc)
JOINED_CONTROLLERS = ("cpu", "cpuacct", "memory", "pids", "devices", "freezer")
#: runc's default device rules (libcontainer/specconv AllowedDevices, as `devices.list`
#: of a `runc run` container shows them): mknod of anything, open only of these
DEVICE_RULES = ("b *:* m", "c *:* m", "c 1:3 rwm", "c 1:5 rwm", "c 1:7 rwm", "c 1:8 rwm",
                "c 1:9 rwm", "c 5:0 rwm", "c 5:2 rwm", "c 10:200 rwm", "c 136:* rwm")

class CgroupMount(Record):
    """A mounted cgroup hierarchy: model.Hierarchy's fields, as a light record (run must not
    import the model)."""

    #: the key /proc/PID/cgroup uses ("cpu", "cpu,cpuacct", "name=systemd", "" for v2)
    key: str
    version: int
    controllers: tuple[str, ...]
    #: where its root is, re-rooted at the cgroup root given
    mountpoint: str
    #: the mount's root within the hierarchy (mountinfo field 4), usually "/"
    root: str = "/"


def read_file(path: str) -> str:
    with open(path) as f:
        return f.read().strip()


def hierarchies(cgroup_root: str = CGROUP_ROOT, proc: str = PROC) -> tuple[CgroupMount, ...]:
    """The cgroup hierarchies mounted under /sys/fs/cgroup, their mountpoints re-rooted
    at ``cgroup_root`` (mountinfo.cgroup_hierarchies, as nsscope.host.cgroups has them)."""
    return tuple(CgroupMount(*h) for h in mountinfo.cgroup_hierarchies(cgroup_root, proc))


class ContainerCgroup:
    """``/nsscope/<id>``: made in the hierarchies of ``joined`` (see the module doc),
    looked for and removed in every hierarchy mounted under ``cgroup_root``."""

    def __init__(self, cid: str, cgroup_root: str = CGROUP_ROOT, proc: str = PROC,
                 limits: Limits | None = None) -> None:
        self.id = cid
        self.path = f"{CGROUP_PARENT}/{cid}"
        self.hierarchies: tuple[CgroupMount, ...] = hierarchies(cgroup_root, proc)
        #: hierarchy key -> directory of this cgroup, in every hierarchy
        self.dirs = {h.key: h.mountpoint + self.path for h in self.hierarchies}
        self.joined = self._joined(limits or Limits())

    # --- finding files ---------------------------------------------------------

    def hierarchy_for(self, controller: str) -> CgroupMount | None:
        """The hierarchy whose files govern ``controller`` (v1 first, then v2 if enabled)."""
        for h in self.hierarchies:
            if h.version == 1 and controller in h.controllers:
                return h
        for h in self.hierarchies:
            if h.version == 2 and controller in h.controllers:
                return h
        return None

    def dir_for(self, controller: str) -> str | None:
        h = self.hierarchy_for(controller)
        return None if h is None else self.dirs[h.key]

    def v2_dir(self) -> str | None:
        for h in self.hierarchies:
            if h.version == 2:
                return self.dirs[h.key]
        return None

    def is_v2(self, controller: str) -> bool:
        h = self.hierarchy_for(controller)
        return h is not None and h.version == 2

    def _joined(self, limits: Limits) -> tuple[CgroupMount, ...]:
        if not any(h.version == 1 for h in self.hierarchies):
            return self.hierarchies  # cgroup v2 only: its one hierarchy
        wanted = JOINED_CONTROLLERS + (("cpuset",) if limits.cpuset is not None else ())
        keys = {h.key for h in map(self.hierarchy_for, wanted) if h is not None}
        return tuple(h for h in self.hierarchies if h.key in keys)

    # --- creation ---------------------------------------------------------------

    def create(self, limits: Limits, device_rules: bool = True) -> None:
        """mkdir in the joined hierarchies, then the limits and (unless --privileged)
        the device rules; on any refusal remove it all."""
        if not self.joined:
            raise NsscopeError("no cgroup hierarchy is mounted under /sys/fs/cgroup")
        try:
            for h in self.joined:
                self._mkdir(h)
            self._limit(limits)
            if device_rules:
                self._device_rules()
        except BaseException:
            self.remove(timeout=1.0)
            raise

    def _mkdir(self, h: CgroupMount) -> None:
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

    def _prepare_parent(self, h: CgroupMount, parent: str) -> None:
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

    def _device_rules(self) -> None:
        """v1: deny every device, then allow runc's (cgroup-v1/devices.rst). A v2
        host has no devices file: runc loads an eBPF program there, nsscope does
        not; the container's own mounts are nodev instead (mounts.py)."""
        h = self.hierarchy_for("devices")
        if h is None or h.version != 1:
            return
        d = self.dirs[h.key]
        try:
            write_file(d + "/devices.deny", "a")
            for rule in DEVICE_RULES:
                write_file(d + "/devices.allow", rule)
        except OSError as e:
            raise NsscopeError(f"the kernel refused the device rules in {d}: "
                               f"{e.strerror}") from None

    @property
    def device_rules(self) -> bool:
        """Whether this host enforces device rules through a v1 devices hierarchy."""
        h = self.hierarchy_for("devices")
        return h is not None and h.version == 1

    # --- members ------------------------------------------------------------------

    def open_attach(self) -> list[int]:
        """Close-on-exec fds PID 1 writes "0" into to move itself in (module doc):
        ``tasks`` in v1 hierarchies, ``cgroup.procs`` in v2."""
        fds: list[int] = []
        try:
            for h in self.joined:
                name = "tasks" if h.version == 1 else "cgroup.procs"
                fds.append(os.open(f"{self.dirs[h.key]}/{name}", os.O_WRONLY | os.O_CLOEXEC))
        except BaseException:
            for fd in fds:
                os.close(fd)
            raise
        return fds

    def procs(self) -> set[int]:
        out: set[int] = set()
        for d in self.dirs.values():
            try:
                with open(d + "/cgroup.procs", "rb") as f:
                    out.update(int(x) for x in f.read().split())
            except OSError:
                continue
        return out

    def kill_all(self) -> None:
        """SIGKILL everything in the cgroup, forks racing or not: cgroup.kill where the
        kernel has it (v2, 5.14+), else freeze (v1 freezer), kill each, thaw; else
        one by one until empty."""
        v2 = self.v2_dir()
        # joined or not (a hybrid host's unified hierarchy is joined only for a limit
        # living there): when the directory exists, every member is in it
        if v2 is not None and os.path.exists(v2 + "/cgroup.kill"):
            try:
                write_file(v2 + "/cgroup.kill", "1")
                return
            except OSError:
                pass
        freezer = self.dir_for("freezer")
        frozen = freezer is not None and self._freeze(freezer)
        try:
            for _ in range(100):
                pids = self.procs()
                if not pids:
                    return
                for pid in pids:
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
                if frozen:
                    return  # frozen tasks cannot fork; they die once thawed
                time.sleep(0.01)
        finally:
            if frozen:
                write_file(freezer + "/freezer.state", "THAWED")  # type: ignore[operator]

    @staticmethod
    def _freeze(d: str) -> bool:
        """v1 freezer: FROZEN, waiting out FREEZING (freezer-subsystem.rst); False if
        the cgroup has no freezer here or it does not freeze within a second."""
        try:
            write_file(d + "/freezer.state", "FROZEN")
        except OSError:
            return False
        deadline = time.monotonic() + 1.0
        while True:
            try:
                if read_file(d + "/freezer.state") == "FROZEN":
                    return True
            except OSError:
                return False
            if time.monotonic() > deadline:
                write_file(d + "/freezer.state", "THAWED")
                return False
            time.sleep(0.001)

    # --- removal --------------------------------------------------------------------

    def exists(self) -> bool:
        return any(os.path.isdir(d) for d in self.dirs.values())

    def remove(self, timeout: float = 5.0) -> list[str]:
        """rmdir in every hierarchy (retrying only while exiting tasks leave), then the
        parent ``/nsscope`` where it is empty. Returns the directories that could not
        be removed."""
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


def remove_parent(h: CgroupMount) -> None:
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


def _is_container_id(name: str) -> bool:
    return len(name) == 64 and all(c in "0123456789abcdef" for c in name)


def cgroup_ids(cgroup_root: str = CGROUP_ROOT, proc: str = PROC) -> set[str]:
    """The ids of every ``/nsscope/<id>`` cgroup in any hierarchy (for gc).

    Only container ids (64 hex digits): ``nsscope throttle`` keeps its
    ``/nsscope/throttle-<pid>`` cgroups beside them, and gc must not touch those.
    """
    out: set[str] = set()
    for h in hierarchies(cgroup_root, proc):
        try:
            with os.scandir(h.mountpoint + CGROUP_PARENT) as it:
                out.update(e.name for e in it if e.is_dir(follow_symlinks=False)
                           and _is_container_id(e.name))
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

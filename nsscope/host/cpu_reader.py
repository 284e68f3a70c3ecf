"""``CpuReader``: every cgroup's CPU figures, read again and again cheaply (``nsscope top``)."""

from __future__ import annotations

import os
import resource
from collections.abc import Collection

from nsscope.host.cgroups import (
    cgroup_path_of,
    cpu_hierarchy,
    cpu_v1,
    cpu_v2,
    dir_of,
    read_fd,
    read_procs,
    walk,
    with_unified,
)
from nsscope.host.model import Cgroup, Hierarchy


class CpuReader:
    """Every cgroup's CPU figures, read again and again cheaply (``nsscope top``).

    Only the hierarchy whose cpu controller enforces limits is walked: a
    cgroup absent from it cannot be throttled, and its tasks are counted in
    the cpu cgroup they are in. Usage comes from the same path in a v1
    cpuacct mounted apart, PSI from the same path in a hybrid host's cgroup2.

    Files are read through descriptors kept open between readings: one
    pread(2) at offset 0 instead of open+read+close, a quarter of the cost on
    cgroupfs, whose seq_files generate their contents afresh on each read
    from offset 0 (fs/kernfs/file.c, fs/seq_file.c). A descriptor of a
    removed cgroup fails (ENODEV) and is reopened once; files a cgroup lacks
    are looked for again every ``reprobe`` readings. At most ``max_fds``
    descriptors are kept; beyond, files are opened for each read. Files named
    in ``skip`` (e.g. "cpu.shares", "cpuacct.stat") are not read: their
    figures stay None.
    """

    def __init__(self, hs: tuple[Hierarchy, ...], *, max_fds: int | None = None,
                 reprobe: int = 10, skip: Collection[str] = ()) -> None:
        cpu = cpu_hierarchy(hs)
        if cpu is None:
            cpu = next((h for h in hs if "cpuacct" in h.controllers or h.version == 2), None)
        self.cpu = cpu
        self.companions = tuple(h for h in hs if h is not cpu and (
            h.version == 2 or "cpuacct" in h.controllers)) if cpu is not None else ()
        if max_fds is None:
            # half of what this process may open, the rest left to its caller
            max_fds = resource.getrlimit(resource.RLIMIT_NOFILE)[0] // 2
        self.max_fds = max_fds
        self.reprobe = reprobe
        self.skip = frozenset(skip)
        self._fds: dict[str, int] = {}
        self._absent: dict[str, int] = {}  # path -> reading when it was missing
        self._paths: set[str] = set()  # the cgroups of the last reading
        self._n = 0

    def _get(self, path: str) -> str | None:
        fd = self._fds.get(path)
        if fd is None:
            if self.skip and path.rsplit("/", 1)[1] in self.skip:
                return None
            when = self._absent.get(path)
            if when is not None and self._n - when < self.reprobe:
                return None
            try:
                fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
            except OSError:
                self._absent[path] = self._n
                return None
            self._absent.pop(path, None)
            if len(self._fds) >= self.max_fds:
                try:
                    return self._all(fd)
                finally:
                    os.close(fd)
            self._fds[path] = fd
        try:
            return self._all(fd)
        except OSError:
            # the cgroup was removed (ENODEV), perhaps made again under the same path
            os.close(self._fds.pop(path))
            try:
                fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
            except OSError:
                self._absent[path] = self._n
                return None
            try:
                return self._all(fd)
            except OSError:
                return None
            finally:
                os.close(fd)

    @staticmethod
    def _all(fd: int) -> str:
        return read_fd(fd, pread=True).decode("utf-8", "replace")

    def read(self) -> dict[str, Cgroup]:
        """One reading: cgroup path -> ``Cgroup`` with members and CPU figures."""
        self._n += 1
        out: dict[str, Cgroup] = {}
        cpu = self.cpu
        if cpu is None:
            return out
        acct_here = "cpuacct" in cpu.controllers
        for rel, d in walk(cpu.mountpoint):
            path = cgroup_path_of(cpu, rel)
            keys = [cpu.key]
            acct = d if acct_here else None
            v2 = None
            for h in self.companions:
                cd = dir_of(h, path)
                if cd is None:
                    continue
                if h.version == 2:
                    v2 = cd
                else:
                    acct = cd
                keys.append(h.key)
            g = self._get
            if cpu.version == 2:
                stats = cpu_v2(d, read=g)
            else:
                stats = cpu_v1(d, acct, read=g)
                if v2 is not None:
                    stats = with_unified(stats, v2, read=g)
            out[path] = Cgroup(path=path, hierarchies=tuple(keys),
                               procs=read_procs(d, read=g), cpu=stats)
        self._forget(out)
        return out

    def _forget(self, seen: dict[str, Cgroup]) -> None:
        """Close the descriptors of cgroups that are gone."""
        paths = set(seen)
        gone, self._paths = self._paths - paths, paths
        if not gone:
            return
        dead = {d for path in gone for d in self._dirs(path)}
        for f in [f for f in self._fds if f.rsplit("/", 1)[0] in dead]:
            os.close(self._fds.pop(f))
        for f in [f for f in self._absent if f.rsplit("/", 1)[0] in dead]:
            del self._absent[f]

    def _dirs(self, path: str) -> list[str]:
        out = []
        for h in (self.cpu, *self.companions):
            if h is not None:
                d = dir_of(h, path)
                if d is not None:
                    out.append(d)
        return out

    def close(self) -> None:
        for fd in self._fds.values():
            os.close(fd)
        self._fds.clear()

    def __enter__(self) -> CpuReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

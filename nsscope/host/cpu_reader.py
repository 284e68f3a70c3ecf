"""``CpuReader``: every cgroup's CPU figures, read again and again cheaply (``nsscope top``)."""

from __future__ import annotations

import os
from collections.abc import Collection

from nsscope.host.cgroups import (
    cgroup_path_of,
    cpu_hierarchy,
    cpu_v1,
    cpu_v2,
    dir_of,
    hierarchy_for,
    io_v1,
    io_v2,
    memory_v1,
    memory_v2,
    pids_stats,
    read_procs,
    walk,
    with_unified,
)
from nsscope.host.kept_files import KeptFiles
from nsscope.host.model import Cgroup, Hierarchy


class CpuReader:
    """Every cgroup's CPU figures, read again and again cheaply (``nsscope top``).

    Only the hierarchy whose cpu controller enforces limits is walked: a
    cgroup absent from it cannot be throttled, and its tasks are counted in
    the cpu cgroup they are in. Usage comes from the same path in a v1
    cpuacct mounted apart, PSI from the same path in a hybrid host's cgroup2.

    Files are read through descriptors kept open between readings
    (``KeptFiles``: one pread(2) instead of open+read+close); files a cgroup
    lacks are looked for again every ``reprobe`` readings; at most ``max_fds``
    descriptors are kept. Files named in ``skip`` (e.g. "cpu.shares",
    "cpuacct.stat") are not read: their figures stay None.

    ``memory=True`` / ``pids=True`` / ``io=True`` also read each cgroup's memory, pids
    and block I/O figures (``docker stats``' MEM USAGE / LIMIT, PIDS and BLOCK I/O): from
    the same directory on v2 (absent files, a controller not enabled there, stay None),
    from the same path in the v1 memory, pids and blkio hierarchies (among ``hs``) on v1.
    """

    def __init__(self, hs: tuple[Hierarchy, ...], *, max_fds: int | None = None,
                 reprobe: int = 10, skip: Collection[str] = (), memory: bool = False,
                 pids: bool = False, io: bool = False) -> None:
        cpu = cpu_hierarchy(hs)
        if cpu is None:
            cpu = next((h for h in hs if "cpuacct" in h.controllers or h.version == 2), None)
        self.cpu = cpu
        self.companions = tuple(h for h in hs if h is not cpu and (
            h.version == 2 or "cpuacct" in h.controllers)) if cpu is not None else ()
        self.files = KeptFiles(max_fds=max_fds, reprobe=reprobe, skip=skip)
        v2 = cpu is not None and cpu.version == 2
        #: where memory and pids figures are read: None (not asked), "same" (the cpu
        #: cgroup's own directory, v2) or a v1 hierarchy
        self.memory: Hierarchy | str | None = None
        self.pids: Hierarchy | str | None = None
        self.io: Hierarchy | str | None = None
        #: a v1 companion's directory -> the reading it was found missing in: most cpu
        #: cgroups have none in the memory, pids or blkio hierarchy (a runtime makes its
        #: cgroup in each, systemd's slices need not), and probing its files every
        #: reading was a third of a refresh at 1,000 cgroups; looked for again every
        #: ``reprobe`` readings, as a missing file is
        self._missing: dict[str, int] = {}
        self._rounds = 0
        self._reprobe = reprobe
        self._found: set[str] = set()
        if memory:
            self.memory = "same" if v2 else hierarchy_for(
                tuple(h for h in hs if h.version == 1), "memory")
        if pids:
            self.pids = "same" if v2 else hierarchy_for(
                tuple(h for h in hs if h.version == 1), "pids")
        if io:
            self.io = "same" if v2 else hierarchy_for(
                tuple(h for h in hs if h.version == 1), "blkio")
        self._paths: set[str] = set()  # the cgroups of the last reading

    def read(self) -> dict[str, Cgroup]:
        """One reading: cgroup path -> ``Cgroup`` with members and CPU figures."""
        self.files.next_round()
        self._rounds += 1
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
            g = self.files.read
            if cpu.version == 2:
                stats = cpu_v2(d, read=g)
            else:
                stats = cpu_v1(d, acct, read=g)
                if v2 is not None:
                    stats = with_unified(stats, v2, read=g)
            mem = pids = None
            if self.memory is not None:
                md = d if self.memory == "same" else self._v1_dir(self.memory, path)  # type: ignore[arg-type]
                if md is not None:
                    mem = (memory_v2 if self.memory == "same" else memory_v1)(md, read=g)
            if self.pids is not None:
                pd = d if self.pids == "same" else self._v1_dir(self.pids, path)  # type: ignore[arg-type]
                if pd is not None:
                    pids = pids_stats(pd, read=g)
            io = None
            if self.io is not None:
                iod = d if self.io == "same" else self._v1_dir(self.io, path)  # type: ignore[arg-type]
                if iod is not None:
                    io = (io_v2 if self.io == "same" else io_v1)(iod, read=g)
            out[path] = Cgroup(path=path, hierarchies=tuple(keys),
                               procs=read_procs(d, read=g), cpu=stats, memory=mem, pids=pids,
                               io=io)
        self._forget(out)
        return out

    def _v1_dir(self, h: Hierarchy, path: str) -> str | None:
        """``path``'s directory in v1 hierarchy ``h``, None while it is missing."""
        d = dir_of(h, path)
        if d is None:
            return None
        when = self._missing.get(d)
        if when is not None and self._rounds - when < self._reprobe:
            return None
        if d not in self._found:
            if not os.path.isdir(d):
                self._missing[d] = self._rounds
                return None
            self._missing.pop(d, None)
            self._found.add(d)
        return d

    def _forget(self, seen: dict[str, Cgroup]) -> None:
        """Close the descriptors of cgroups that are gone."""
        paths = set(seen)
        gone, self._paths = self._paths - paths, paths
        if not gone:
            return
        dirs = [d for path in gone for d in self._dirs(path)]
        self.files.forget(dirs)
        for d in dirs:
            self._found.discard(d)
            self._missing.pop(d, None)

    def _dirs(self, path: str) -> list[str]:
        out = []
        extra = [h for h in (self.memory, self.pids, self.io) if h is not None and h != "same"]
        for h in (self.cpu, *self.companions, *extra):
            if h is not None and not isinstance(h, str):
                d = dir_of(h, path)
                if d is not None:
                    out.append(d)
        return out

    def close(self) -> None:
        self.files.close()

    def __enter__(self) -> CpuReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

"""``CpuReader``: every cgroup's CPU figures, read again and again cheaply (``nsscope top``)."""

from __future__ import annotations

import os

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
from nsscope.records import Record

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Collection


class _Plan(Record):
    """Where one cgroup's figures are: its directory in each hierarchy it exists in."""

    #: the hierarchies it exists in (``Cgroup.hierarchies``)
    keys: tuple[str, ...]
    #: its directory in the cpu hierarchy
    dir: str
    #: where usage is: cpuacct (v1; the same directory when comounted with cpu)
    acct: str | None
    #: its directory in a hybrid host's cgroup2 (usage and PSI)
    unified: str | None
    memory: str | None
    pids: str | None
    io: str | None
    #: the reading in which a directory was found missing (None: none is)
    missing_since: int | None


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
        v1s = tuple(h for h in hs if h.version == 1)
        #: where memory, pids and io figures are read: None (not asked), "same" (the cpu
        #: cgroup's own directory, v2) or a v1 hierarchy
        self.memory: Hierarchy | str | None = None
        self.pids: Hierarchy | str | None = None
        self.io: Hierarchy | str | None = None
        if memory:
            self.memory = "same" if v2 else hierarchy_for(v1s, "memory")
        if pids:
            self.pids = "same" if v2 else hierarchy_for(v1s, "pids")
        if io:
            self.io = "same" if v2 else hierarchy_for(v1s, "blkio")
        self._rounds = 0
        self._reprobe = reprobe
        #: cgroup path -> where its figures are (``_Plan``), worked out once: most cpu
        #: cgroups have no directory in a v1 memory, pids or blkio hierarchy or in a
        #: hybrid host's cgroup2 (a runtime makes its cgroup in each, systemd's slices
        #: need not), and looking for them every reading was a third of a refresh at
        #: 1,000 cgroups; a plan with a directory missing is made again every
        #: ``reprobe`` readings, as a missing file is looked for again
        self._plans: dict[str, _Plan] = {}

    def read(self) -> dict[str, Cgroup]:
        """One reading: cgroup path -> ``Cgroup`` with members and CPU figures."""
        self.files.next_round()
        self._rounds += 1
        out: dict[str, Cgroup] = {}
        cpu = self.cpu
        if cpu is None:
            return out
        g = self.files.read
        plans = self._plans
        rounds, reprobe = self._rounds, self._reprobe
        on_v2 = cpu.version == 2
        memory_of = memory_v2 if self.memory == "same" else memory_v1
        io_of = io_v2 if self.io == "same" else io_v1
        #: directories found missing in this reading: their subdirectories are too
        absent: set[str] = set()
        for rel, d in walk(cpu.mountpoint):
            path = cgroup_path_of(cpu, rel)
            plan = plans.get(path)
            if plan is None or (plan.missing_since is not None
                                and rounds - plan.missing_since >= reprobe):
                plan = plans[path] = self._plan(path, d, absent)
            if on_v2:
                stats = cpu_v2(d, read=g)
            else:
                stats = cpu_v1(d, plan.acct, read=g)
                if plan.unified is not None:
                    stats = with_unified(stats, plan.unified, read=g)
            mem = memory_of(plan.memory, read=g) if plan.memory is not None else None
            pids = pids_stats(plan.pids, read=g) if plan.pids is not None else None
            io = io_of(plan.io, read=g) if plan.io is not None else None
            # positional: a record built by keyword costs a Python loop (records.py)
            out[path] = Cgroup(path, plan.keys, read_procs(d, read=g), stats, mem, pids, io)
        self._forget(out)
        return out

    def _plan(self, path: str, d: str, absent: set[str]) -> _Plan:
        """Where cgroup ``path`` (directory ``d`` in the cpu hierarchy) has its figures.
        ``absent``: directories found missing so far in this reading (walk goes parents
        first: a cgroup whose parent is missing in a hierarchy is missing there too)."""
        assert self.cpu is not None
        missing = False

        def existing(h: Hierarchy | str | None) -> str | None:
            nonlocal missing
            if h is None:
                return None
            if h == "same":
                return d
            cd = dir_of(h, path)  # type: ignore[arg-type]
            if cd is None:
                return None  # outside the part of the hierarchy mounted here
            if cd.rsplit("/", 1)[0] in absent or not os.path.isdir(cd):
                absent.add(cd)
                missing = True
                return None
            return cd

        keys = [self.cpu.key]
        acct = d if "cpuacct" in self.cpu.controllers else None
        unified = None
        for h in self.companions:
            cd = existing(h)
            if cd is None:
                continue
            if h.version == 2:
                unified = cd
            else:
                acct = cd
            keys.append(h.key)
        mem, pids, io = existing(self.memory), existing(self.pids), existing(self.io)
        return _Plan(tuple(keys), d, acct, unified, mem, pids, io,
                     self._rounds if missing else None)

    def _forget(self, seen: dict[str, Cgroup]) -> None:
        """Close the descriptors of cgroups that are gone."""
        gone = [p for p in self._plans if p not in seen]
        if not gone:
            return
        dirs = []
        for path in gone:
            plan = self._plans.pop(path)
            dirs += [x for x in (plan.dir, plan.acct, plan.unified, plan.memory, plan.pids,
                                 plan.io) if x is not None]
        self.files.forget(dirs)

    def close(self) -> None:
        self.files.close()

    def __enter__(self) -> CpuReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

"""``CgroupReader``: the figures of chosen cgroups, read again and again through kept
descriptors (``nsscope serve``'s scrapes; kept_files.KeptFiles).

``cgroups.build`` walks every hierarchy and reads every cgroup: on a v1 host with
ten hierarchies and a hundred containers that is some two thousand directories
and files per reading. A scrape needs the containers' own cgroups and the CPU
bandwidth of their ancestors only; this reads just those, each file through a
descriptor kept open between readings (one pread(2) at offset 0 instead of
open+read+close: cgroupfs seq_files are generated afresh on each read from
offset 0, fs/kernfs/file.c, fs/seq_file.c), as ``CpuReader`` does for ``top``.
A descriptor of a removed cgroup fails (ENODEV) and is reopened once; a file a
cgroup lacks is looked for again every ``reprobe`` readings; descriptors of
cgroups no longer asked for are closed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from nsscope.host.cgroups import (
    cpu_v1,
    cpu_v2,
    dir_of,
    hierarchy_for,
    memory_stat,
    memory_v1,
    memory_v2,
    parse_cpu_max,
    with_unified,
)
from nsscope.host.kept_files import KeptFiles
from nsscope.host.model import Cgroup, CpuStats, Hierarchy
from nsscope.records import Record


class Reading(Record):
    #: the asked-for cgroups that exist, with CPU and memory figures (no members)
    cgroups: Mapping[str, Cgroup]
    #: their strict ancestors (the root excepted) that have a CFS quota of their own:
    #: quota, period and the bandwidth counters
    limits: Mapping[str, CpuStats]
    #: memory.stat of the asked-for cgroups, where there is one
    memory_stats: Mapping[str, Mapping[str, int]]


class CgroupReader:
    def __init__(self, hs: tuple[Hierarchy, ...], *, max_fds: int | None = None,
                 reprobe: int = 10) -> None:
        self.hs = hs
        self.cpu = hierarchy_for(hs, "cpu")
        self.acct = hierarchy_for(hs, "cpuacct")
        self.memory = hierarchy_for(hs, "memory")
        self.v2 = next((h for h in hs if h.version == 2), None)
        self.files = KeptFiles(max_fds=max_fds, reprobe=reprobe)

    def _dir(self, h: Hierarchy | None, path: str) -> str | None:
        return dir_of(h, path) if h is not None else None

    def _dirs(self, path: str) -> set[str]:
        return {d for h in (self.cpu, self.acct, self.v2, self.memory)
                if (d := self._dir(h, path)) is not None}

    def figures(self, path: str) -> Cgroup | None:
        """One cgroup's CPU and memory figures, as ``cgroups.build`` reads them; None when
        it exists in none of those hierarchies (gone)."""
        g = self.files.read
        cpu_d, acct_d = self._dir(self.cpu, path), self._dir(self.acct, path)
        v2_d = self._dir(self.v2, path)
        cpu = None
        if self.cpu is not None and self.cpu.version == 2 and cpu_d is not None:
            cpu = cpu_v2(cpu_d, read=g)
        elif cpu_d is not None or (acct_d is not None and self.acct is not self.v2):
            cpu = cpu_v1(cpu_d, acct_d, read=g)
            if v2_d is not None:
                cpu = with_unified(cpu, v2_d, read=g)
        elif v2_d is not None:
            # cpu.stat (usage) exists in every v2 cgroup, controller enabled or not
            cpu = cpu_v2(v2_d, read=g)
        if cpu is not None and cpu.usage_usec is None and cpu.nr_periods is None \
                and cpu.quota_usec is None and cpu.period_usec is None:
            cpu = None  # no file of it could be read: not there
        memory = None
        mem_d = self._dir(self.memory, path)
        if mem_d is not None and self.memory is not None:
            m = memory_v2(mem_d, read=g) if self.memory.version == 2 else memory_v1(mem_d, read=g)
            memory = m if m.current is not None else None
        if cpu is None and memory is None:
            return None
        keys = tuple(h.key for h, d in ((self.cpu, cpu_d), (self.acct, acct_d), (self.v2, v2_d),
                                        (self.memory, mem_d)) if h is not None and d is not None)
        return Cgroup(path=path, hierarchies=tuple(dict.fromkeys(keys)), procs=(), cpu=cpu,
                      memory=memory)

    def limit(self, path: str) -> CpuStats | None:
        """An ancestor's CFS bandwidth: None without a quota of its own (or gone)."""
        d = self._dir(self.cpu, path)
        if d is None or self.cpu is None:
            return None
        g = self.files.read
        if self.cpu.version == 2:
            quota, _ = parse_cpu_max(g(d + "/cpu.max"))
            if quota is None:
                return None
            return cpu_v2(d, read=g)
        text = g(d + "/cpu.cfs_quota_us")
        if text is None or text.strip().startswith("-"):
            return None  # -1 is unlimited
        return cpu_v1(d, None, read=g)

    def read(self, paths: Iterable[str]) -> Reading:
        """The figures of ``paths`` and of their limited ancestors, now."""
        self.files.next_round()
        wanted = list(dict.fromkeys(paths))
        out: dict[str, Cgroup] = {}
        stats: dict[str, Mapping[str, int]] = {}
        for path in wanted:
            cg = self.figures(path)
            if cg is None:
                self.files.forget(self._dirs(path))
                continue
            out[path] = cg
            mem_d = self._dir(self.memory, path)
            st = memory_stat(mem_d, read=self.files.read) if mem_d is not None else None
            if st is not None:
                stats[path] = st
        limits: dict[str, CpuStats] = {}
        seen: set[str] = set()
        for path in out:
            here = path
            while True:
                here = here.rsplit("/", 1)[0] or "/"
                if here == "/" or here in seen:
                    break  # the root has no CFS bandwidth (sched-bwc.rst)
                seen.add(here)
                lim = self.limit(here)
                if lim is not None:
                    limits[here] = lim
        self.files.keep_only({d for p in (*wanted, *seen) for d in self._dirs(p)})
        return Reading(cgroups=out, limits=limits, memory_stats=stats)

    def close(self) -> None:
        self.files.close()

    def __enter__(self) -> CgroupReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

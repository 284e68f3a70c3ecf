"""One scrape's view of the host: a snapshot, when it was taken, and the figures of the
containers' cgroups.

A ``Scraper`` keeps the host's incremental ``Sampler`` between scrapes (known
processes are re-read a slice at a time, namespaces walked again only when they
change, containers recognised again only when processes or their cgroups come
and go) without its cgroup tree: a ``CgroupReader`` reads the containers' own
cgroups and their ancestors' CPU bandwidth, and nothing else, through kept
descriptors. Nothing runs between scrapes: the cost of ``serve`` is the cost of
its scrapes. Scrapes are taken one at a time (a lock): two scrapers at the same
moment get two consecutive readings, never a half-updated sampler.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping

from nsscope.host.cgroup_reader import CgroupReader
from nsscope.host.collector import Roots
from nsscope.host.model import Cgroup, Container, CpuStats, Snapshot
from nsscope.host.sampler import Sampler
from nsscope.records import Record


class Scrape(Record):
    snapshot: Snapshot
    #: when it was taken, seconds since the epoch (container_last_seen)
    at: float
    #: the containers' cgroups that exist, with CPU and memory figures
    cgroups: Mapping[str, Cgroup]
    #: their strict ancestors with a CFS quota of their own (quota and counters)
    limits: Mapping[str, CpuStats]
    #: cgroup path -> its memory.stat, for the containers' cgroups
    memory_stats: Mapping[str, Mapping[str, int]]


def candidates(snap: Snapshot) -> list[Container]:
    """The containers that may get cAdvisor's series: those of a runtime (not sandboxes,
    which are processes grouped by namespaces, often in their user's cgroup) with a
    cgroup of their own (one in the root cgroup would report the whole host)."""
    return [c for c in snap.containers if not c.sandbox and c.cgroup and c.cgroup != "/"]


def measured(scrape: Scrape) -> list[Container]:
    """The candidates whose cgroup was there to be read (a container that vanished
    between recognition and reading has none)."""
    return [c for c in candidates(scrape.snapshot) if c.cgroup in scrape.cgroups]


class Scraper:
    def __init__(self, roots: Roots = Roots(), *, clock: Callable[[], float] = time.time) -> None:
        self.roots = roots
        self.sampler = Sampler(roots, cgroup_tree=False)
        self.reader: CgroupReader | None = None
        self._clock = clock
        self._lock = threading.Lock()

    def take(self) -> Scrape:
        """The host now. A container that vanishes while it is read is simply absent or
        without figures (every reader returns None for a file that is gone)."""
        with self._lock:
            snap = self.sampler.sample()
            at = self._clock()
            if self.reader is None or self.reader.hs != snap.hierarchies:
                if self.reader is not None:
                    self.reader.close()
                self.reader = CgroupReader(snap.hierarchies)
            paths = [c.cgroup for c in candidates(snap) if c.cgroup is not None]
            got = self.reader.read(paths)
            return Scrape(snapshot=snap, at=at, cgroups=got.cgroups, limits=got.limits,
                          memory_stats=got.memory_stats)

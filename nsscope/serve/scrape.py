"""One scrape's view of the host: a snapshot, when it was taken, and the few figures
read for containers only.

A ``Scraper`` keeps the host's incremental ``Sampler`` between scrapes (known
processes are re-read a slice at a time, namespaces walked again only when they
change) and does nothing between them: the cost of ``serve`` is the cost of its
scrapes. Scrapes are taken one at a time (a lock): two scrapers at the same
moment get two consecutive snapshots, never a half-updated sampler.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping

from nsscope.host import cgroups
from nsscope.host.collector import Roots
from nsscope.host.model import Container, Snapshot
from nsscope.host.sampler import Sampler
from nsscope.records import Record


class Scrape(Record):
    snapshot: Snapshot
    #: when it was taken, seconds since the epoch (container_last_seen)
    at: float
    #: cgroup path -> its memory.stat, for the measured containers' cgroups
    memory_stats: Mapping[str, Mapping[str, int]]


def measured(snap: Snapshot) -> list[Container]:
    """The containers that get cAdvisor's series: those of a runtime (not sandboxes, which
    are processes grouped by namespaces, often in their user's cgroup) with a cgroup of
    their own in the snapshot. A container in the root cgroup would report the whole host."""
    return [c for c in snap.containers
            if not c.sandbox and c.cgroup and c.cgroup != "/" and c.cgroup in snap.cgroups]


class Scraper:
    def __init__(self, roots: Roots = Roots(), *, clock: Callable[[], float] = time.time) -> None:
        self.roots = roots
        self.sampler = Sampler(roots)
        self._clock = clock
        self._lock = threading.Lock()

    def take(self) -> Scrape:
        """The host now. A container that vanishes while it is read is simply absent or
        without figures (every reader returns None for a file that is gone)."""
        with self._lock:
            snap = self.sampler.sample()
            at = self._clock()
            stats: dict[str, Mapping[str, int]] = {}
            for c in measured(snap):
                assert c.cgroup is not None
                if c.cgroup not in stats:
                    st = cgroups.memory_stat(snap.hierarchies, c.cgroup)
                    if st is not None:
                        stats[c.cgroup] = st
            return Scrape(snapshot=snap, at=at, memory_stats=stats)

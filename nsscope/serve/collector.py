"""prometheus-client's custom collector over the snapshot: one scrape, every family.

A scrape never fails whole. A container that vanishes while it is read is simply
absent (the host's readers return None for what is gone). Anything else that goes
wrong (a reader's bug, a file in a shape never seen) is caught here: the families
built so far are served, ``container_scrape_error`` is 1 (cAdvisor's gauge, for the
same purpose), the error is written once to stderr; if the snapshot itself could not
be taken, the last good one is served again.
"""

from __future__ import annotations

import sys
import traceback
from collections.abc import Callable, Iterable, Iterator

from prometheus_client import CollectorRegistry
from prometheus_client.core import GaugeMetricFamily, Metric

from nsscope.printable import safe
from nsscope.serve import cadvisor, extra
from nsscope.serve.scrape import Scrape, Scraper

#: the mappings from a scrape to families, in the order they are served
MAPPINGS: tuple[Callable[[Scrape], Iterable[Metric]], ...] = (cadvisor.families,
                                                               extra.families)


class SnapshotCollector:
    def __init__(self, scraper: Scraper) -> None:
        self.scraper = scraper
        self.last: Scrape | None = None
        self._reported: set[str] = set()

    def describe(self) -> list[Metric]:
        # nothing to describe up front: the registry must not take a snapshot to learn
        # the families when the collector is registered
        return []

    def collect(self) -> Iterator[Metric]:
        error = 0
        try:
            scrape: Scrape | None = self.scraper.take()
            self.last = scrape
        except Exception as e:
            self._report(e)
            error, scrape = 1, self.last
        out: list[Metric] = []
        if scrape is not None:
            for mapping in MAPPINGS:
                try:
                    out.extend(mapping(scrape))
                except Exception as e:
                    self._report(e)
                    error = 1
        g = GaugeMetricFamily("container_scrape_error",
                              "1 if there was an error while getting container metrics, "
                              "0 otherwise")
        g.add_metric([], error)
        yield g
        yield from out

    def _report(self, e: Exception) -> None:
        """Each kind of failure once on stderr (a server's log), not at every scrape."""
        where = traceback.extract_tb(e.__traceback__)[-1:] if e.__traceback__ else []
        key = f"{type(e).__name__}:{where}"
        if key in self._reported:
            return
        self._reported.add(key)
        # the message may quote a path or a name a container chose: escaped
        text = "".join(traceback.format_exception_only(type(e), e)).rstrip("\n")
        sys.stderr.write(f"nsscope serve: scrape error (served what could be read): "
                         f"{safe(text)}\n")
        sys.stderr.flush()


def registry_of(scraper: Scraper) -> CollectorRegistry:
    """A registry with this collector alone (not the library's default one, whose
    process and platform collectors would describe the exporter, not the host)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(SnapshotCollector(scraper))
    return registry

"""Metric families being filled for one scrape, each series at most once.

Prometheus rejects a whole scrape that holds the same series twice ("duplicate
sample"), so a second sample with the same labels is dropped here, never sent:
two containers that nsscope tells apart but that would carry the same labels
(the same cgroup, name and pod) must not cost the host its every other series.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric


class Families:
    def __init__(self) -> None:
        self._families: dict[str, Metric] = {}
        self._seen: dict[str, set[tuple[str, ...]]] = {}

    def declare(self, name: str, kind: str, documentation: str,
                labels: Sequence[str]) -> None:
        """A family, listed even when it gets no sample (``kind``: counter or gauge).
        A counter's name is given with its ``_total`` (as it is queried)."""
        if kind == "counter":
            fam: Metric = CounterMetricFamily(name, documentation, labels=labels)
        else:
            fam = GaugeMetricFamily(name, documentation, labels=labels)
        self._families[name] = fam
        self._seen[name] = set()

    def add(self, name: str, labels: Sequence[str], value: float) -> None:
        key = tuple(labels)
        seen = self._seen[name]
        if key in seen:
            return
        seen.add(key)
        self._families[name].add_metric(key, value)  # type: ignore[attr-defined]

    def __iter__(self) -> Iterator[Metric]:
        return iter(self._families.values())

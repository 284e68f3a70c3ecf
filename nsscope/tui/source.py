"""Where the TUI's snapshots come from: this host, live, or a fixed scenario.

Both are called from the collector thread only.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from nsscope.host.collector import Roots
from nsscope.host.model import Snapshot
from nsscope.host.sampler import Sampler


class LiveSource:
    """This host (or a captured tree, via ``roots``), sampled incrementally."""

    live = True

    def __init__(self, roots: Roots = Roots()) -> None:
        self.roots = roots
        self.sampler = Sampler(roots)

    @property
    def is_host(self) -> bool:
        """True when the roots are the real /proc and /sys/fs/cgroup (actions make sense)."""
        return self.roots == Roots()

    def sample(self) -> Snapshot | None:
        return self.sampler.sample()

    def refresh(self, pids: Iterable[int] = ()) -> None:
        self.sampler.refresh(pids)


class FixedSource:
    """A fixed scenario: these snapshots in order, then nothing (screenshots, tests)."""

    live = False
    is_host = False

    def __init__(self, snapshots: Sequence[Snapshot]) -> None:
        self.snapshots = list(snapshots)
        self._next = 0

    def sample(self) -> Snapshot | None:
        if self._next >= len(self.snapshots):
            return None
        snap = self.snapshots[self._next]
        self._next += 1
        return snap

    def refresh(self, pids: Iterable[int] = ()) -> None:
        pass

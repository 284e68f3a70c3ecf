"""Who is held back by CFS bandwidth control, as ``nsscope top`` tells it: a cgroup's
own throttled share, or that of the limited ancestor that holds it back; and the
order "sort by throttling" (``s``) gives the trees.

A limit on a pod or a slice throttles the processes below it without a trace in
their own cpu.stat: nr_throttled counts the periods in which *this* cgroup's
quota ran out (Documentation/scheduler/sched-bwc.rst, hierarchical
considerations). So, as nsscope top does (nsscope/cli/top.py, rows and
_throttling_ancestor), a busy cgroup with no throttling of its own takes the share
of its nearest limited, throttled ancestor; and a subtree sorts by the most
throttled cgroup in it, so a throttled container deep under system.slice
brings system.slice to the top.
"""

from __future__ import annotations

from typing import NamedTuple

from nsscope.tui.frame import Frame

#: below this usage (% of a CPU, over the interval) a cgroup is idle, not held back
#: (nsscope top's ACTIVE_PCT)
ACTIVE_PCT = 0.5


class Share(NamedTuple):
    """The throttled share that applies to a cgroup (% of CFS periods)."""

    pct: float
    #: the limited ancestor whose throttling holds it back (None: its own, or none)
    by: str | None = None


NONE = Share(0.0)


def _parent(path: str) -> str | None:
    if path == "/":
        return None
    return path.rsplit("/", 1)[0] or "/"


def shares(frame: Frame) -> dict[str, Share]:
    """Cgroup path -> its ``Share`` (computed once per frame)."""
    def make() -> dict[str, Share]:
        cgs = frame.snapshot.cgroups
        out: dict[str, Share] = {}
        for path in cgs:
            r = frame.rates.get(path)
            own = (r.throttled_pct or 0.0) if r is not None else 0.0
            if own or r is None or (r.usage_pct or 0.0) < ACTIVE_PCT:
                out[path] = Share(own)
                continue
            share = NONE
            p = _parent(path)
            while p is not None:
                cg = cgs.get(p)
                if cg is not None and cg.cpu is not None and cg.cpu.quota_usec is not None:
                    up = frame.rates.get(p)
                    if up is not None and up.throttled_pct:
                        share = Share(up.throttled_pct, p)
                        break
                p = _parent(p)
            out[path] = share
        return out
    return frame.cached("throttle_shares", make)


def subtree(frame: Frame) -> dict[str, float]:
    """Cgroup path -> the largest share in it and below it."""
    def make() -> dict[str, float]:
        own = shares(frame)
        out = {path: s.pct for path, s in own.items()}
        # deepest first: each path hands its maximum to its parent
        for path in sorted(out, key=lambda p: p.count("/"), reverse=True):
            parent = _parent(path)
            if parent is not None and parent in out and out[path] > out[parent]:
                out[parent] = out[path]
        return out
    return frame.cached("throttle_subtree", make)


def sort_key(frame: Frame, path: str | None) -> tuple[float, float]:
    """Most throttled subtree first, then the busiest (negated for ``sort``)."""
    if path is None:
        return (1.0, 1.0)
    r = frame.rates.get(path)
    return (-subtree(frame).get(path, 0.0), -((r.usage_pct or 0.0) if r is not None else 0.0))

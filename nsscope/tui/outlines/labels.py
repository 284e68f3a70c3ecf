"""Pieces of tree labels: percentages, CPU figures against a limit, shortened names,
the throttling weight the sort uses.
"""

from __future__ import annotations

from rich.text import Text

from nsscope.host.history import CpuRates

# --- label pieces ----------------------------------------------------------------

def pct(v: float | None) -> str:
    return "-" if v is None else f"{v:.0f}%" if v >= 10 else f"{v:.1f}%"


def _throttle_style(v: float | None) -> str:
    if v is None or v < 1:
        return "dim"
    return "bold red" if v >= 50 else "yellow"


def figures(r: CpuRates | None, limit_pct: float | None = None) -> Text:
    """'  cpu 19.8% / 20%  thr 98%' for a cgroup (limit shown even before a rate exists)."""
    t = Text()
    usage = r.usage_pct if r is not None else None
    limit = r.limit_pct if r is not None else limit_pct
    t.append("  cpu ", style="dim")
    t.append(pct(usage))
    if limit is not None:
        t.append(" / ", style="dim")
        t.append(pct(limit), style="cyan")
    thr = r.throttled_pct if r is not None else None
    if thr is not None:
        t.append("  thr ", style="dim")
        t.append(pct(thr), style=_throttle_style(thr))
    return t


def shorten(name: str, width: int = 30) -> str:
    """A long cgroup or container name cut in the middle: 'docker-4f1c2a9e8b…2d1e.scope'."""
    if len(name) <= width:
        return name
    tail = max(8, width // 3)
    return name[:width - tail - 1] + "…" + name[-tail:]


def throttle_weight(r: CpuRates | None) -> tuple[float, float]:
    """Sort key, most throttled first: (throttled %, usage %), negated."""
    if r is None:
        return (1.0, 1.0)
    return (-(r.throttled_pct or 0.0), -(r.usage_pct or 0.0))



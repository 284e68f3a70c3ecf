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


def figures(r: CpuRates | None, limit_pct: float | None = None,
            by_ancestor: float | None = None) -> Text:
    """'  cpu 19.8% / 20%  thr 98%' for a cgroup (limit shown even before a rate exists);
    'thr ↑98%' when a limited ancestor's throttling holds it back (nsscope top's ↑)."""
    t = Text()
    usage = r.usage_pct if r is not None else None
    limit = r.limit_pct if r is not None else limit_pct
    t.append("  cpu ", style="dim")
    t.append(pct(usage))
    if limit is not None:
        t.append(" / ", style="dim")
        t.append(pct(limit), style="cyan")
    thr = r.throttled_pct if r is not None else None
    if by_ancestor:
        t.append("  thr ", style="dim")
        t.append(f"↑{pct(by_ancestor)}", style=_throttle_style(by_ancestor))
    elif thr is not None:
        t.append("  thr ", style="dim")
        t.append(pct(thr), style=_throttle_style(thr))
    return t


def count(n: int, one: str, many: str | None = None) -> str:
    """'1 process', '6 processes'."""
    return f"{n} {one if n == 1 else many or one + 's'}"


def shorten(name: str, width: int = 30) -> str:
    """A long cgroup or container name cut in the middle: 'docker-4f1c2a9e8b…2d1e.scope'."""
    if len(name) <= width:
        return name
    tail = max(8, width // 3)
    return name[:width - tail - 1] + "…" + name[-tail:]

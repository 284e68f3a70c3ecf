"""CPU limits: parsing what the user typed (20%, 0.5, 1.5 CPUs, a period), the
kernel's bounds (sched-bwc.rst), and the steps ``--watch`` takes.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

from nsscope.errors import BadInput

DEFAULT_PERIOD_USEC = 100_000
#: the kernel's bounds (kernel/sched/core.c: min_cfs_quota_period 1 ms,
#: max_cfs_quota_period 1 s, min_cfs_rq_runtime; sched-bwc.rst "Management")
MIN_PERIOD_USEC = 1_000
MAX_PERIOD_USEC = 1_000_000
MIN_QUOTA_USEC = 1_000
_PERCENT = re.compile(r"(\d+(?:\.\d*)?|\.\d+)%")
_CPUS = re.compile(r"\d+\.\d*|\.\d+")
_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*(us|µs|ms|s)?")
_USEC_PER = {"us": 1, "µs": 1, "ms": 1000, "s": 1_000_000}

# --- limits ----------------------------------------------------------------------------

@dataclass(frozen=True)
class Limit:
    """A CFS bandwidth limit: ``quota_usec`` of CPU time per ``period_usec``; None is unlimited."""

    quota_usec: int | None
    period_usec: int = DEFAULT_PERIOD_USEC

    @property
    def cpus(self) -> float | None:
        return None if self.quota_usec is None else self.quota_usec / self.period_usec

    @property
    def percent(self) -> float | None:
        """In % of one CPU, systemd CPUQuota= style (150 = one and a half CPUs)."""
        cpus = self.cpus
        return None if cpus is None else 100.0 * cpus

    def cpu_max(self) -> str:
        """The v2 ``cpu.max`` text: '$MAX $PERIOD'."""
        return f"{'max' if self.quota_usec is None else self.quota_usec} {self.period_usec}"

    def __str__(self) -> str:
        if self.quota_usec is None:
            return "unlimited"
        return f"{self.percent:g}% ({self.cpus:.2f} CPU)"


def host_cpus() -> int:
    return os.cpu_count() or 1


def format_usec(usec: int) -> str:
    if usec % 1_000_000 == 0:
        return f"{usec // 1_000_000}s"
    if usec % 1000 == 0:
        return f"{usec // 1000}ms"
    return f"{usec}µs"


def parse_period(text: str) -> int:
    """``--period``: '100ms', '1s', '50000us' or bare µs (the kernel files' unit); 1 ms to 1 s."""
    m = _DURATION.fullmatch(text.strip())
    if not m:
        raise BadInput(f"bad period {text!r}: give a duration from 1ms to 1s, e.g. 100ms")
    usec = round(float(m[1]) * _USEC_PER[m[2] or "us"])
    if not MIN_PERIOD_USEC <= usec <= MAX_PERIOD_USEC:
        raise BadInput(f"period {text} is outside the kernel's range of 1ms to 1s "
                       "(Documentation/scheduler/sched-bwc.rst)")
    return usec


def parse_limit(text: str, period_usec: int = DEFAULT_PERIOD_USEC,
                cpus: int | None = None) -> Limit:
    """LIMIT as the user writes it.

    '20%' is 0.2 CPU (systemd's CPUQuota= semantics: % of one CPU, so '150%'
    is 1.5 CPUs); '0.5' is CPUs (docker's --cpus), so a number of CPUs needs a
    decimal point; 'max' or 'off' lifts the limit. A bare integer ('20') is
    refused as ambiguous rather than guessed.
    """
    t = text.strip().lower()
    if t in ("max", "off"):
        return Limit(None, period_usec)
    if not t.isascii():
        # str.isdigit and float() take '²' and Arabic-Indic digits: ASCII only
        raise BadInput(f"bad limit {text!r}: give a share of one CPU (20%), a number of CPUs "
                       "(0.5) or max/off, in ASCII digits")
    m = _PERCENT.fullmatch(t)
    if m:
        want = float(m[1]) / 100.0
    elif _CPUS.fullmatch(t):
        want = float(t)
    elif t.lstrip("-").rstrip("%").replace(".", "", 1).isdigit() and t.count("%") <= 1 and (
            t.startswith("-") or ("%" not in t and "." not in t)):
        if t.startswith("-"):
            raise BadInput(f"bad limit {text!r}: a limit must be more than 0 "
                           "(max or off lifts it)")
        raise BadInput(f"ambiguous limit {text!r}: write {t}% for {int(t) / 100:g} CPU, "
                       f"or {t}.0 for {t} CPUs")
    else:
        raise BadInput(f"bad limit {text!r}: give a share of one CPU (20%), a number of CPUs "
                       "(0.5) or max/off")
    if want <= 0:
        raise BadInput(f"bad limit {text!r}: a limit must be more than 0 (max or off lifts it)")
    have = cpus or host_cpus()
    if want > have:
        raise BadInput(f"limit {text} is {want:g} CPUs, more than this host's {have}")
    quota = round(want * period_usec)
    if quota < MIN_QUOTA_USEC:
        raise BadInput(f"limit {text} with a {format_usec(period_usec)} period is a quota of "
                       f"{quota}µs, under the kernel's 1ms minimum (sched-bwc.rst): "
                       "raise the limit or the --period")
    return Limit(quota, period_usec)


def stepped(limit: Limit, points: float, cpus: int | None = None) -> Limit:
    """``limit`` moved by ``points`` % of one CPU (the --watch arrow keys), kept in bounds.

    From unlimited, a step down starts at the whole host.
    """
    have = cpus or host_cpus()
    pct = limit.percent if limit.percent is not None else 100.0 * have
    pct = round(pct + points, 6)
    floor = 100.0 * MIN_QUOTA_USEC / limit.period_usec
    pct = min(max(pct, floor, 1.0), 100.0 * have)
    return Limit(round(pct / 100.0 * limit.period_usec), limit.period_usec)


"""Removing the cgroups a benchmark made, once their processes are gone."""

from __future__ import annotations

import os
import time


def remove_cgroup(d: str, seconds: float = 5.0) -> None:
    """rmdir(2) cgroup directory ``d``, again while it is busy (EBUSY: a process that was
    killed may take a moment to leave it), for at most ``seconds``; gone already is
    done. A cgroup still busy after that is left (the benchmark says nothing of it)."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            os.rmdir(d)
            return
        except FileNotFoundError:
            return
        except OSError:
            if time.monotonic() >= deadline:
                return
            time.sleep(0.02)

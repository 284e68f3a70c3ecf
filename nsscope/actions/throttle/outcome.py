"""``Outcome``: what ``apply`` or ``reset`` did (file changes, moves, cgroups), for
the CLI to print.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from nsscope.actions.throttle.limit import Limit

# --- outcome ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class FileChange:
    #: the file's full path
    path: str
    before: str
    after: str

    @property
    def name(self) -> str:
        return os.path.basename(self.path)


@dataclass(frozen=True)
class Outcome:
    """What ``apply`` or ``reset`` did."""

    cgroup: str
    version: int
    #: the cgroup's directory in the cpu hierarchy
    dir: str
    changes: tuple[FileChange, ...] = ()
    #: pids moved (into ``cgroup`` by apply; back out by reset)
    moved: tuple[int, ...] = ()
    #: cgroups made (apply) or removed (reset), in the cpu hierarchy's terms
    cgroups: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    #: "file" or "systemctl"
    via: str = "file"
    reason: str = ""
    limit: Limit | None = None
    extra: dict[str, Any] = field(default_factory=dict)



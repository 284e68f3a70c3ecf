"""What a command acts on: one process, named for good, and its container if any.

Its own module (one noun) so that the quick index (``host/candidates.py``), which
makes targets, and ``host/targets.py``, which asks the index, do not import each
other.
"""

from __future__ import annotations


class Target:
    """What a command acts on: a process, named for good, and its container if any.

    A plain immutable class rather than a dataclass or NamedTuple: `nsscope
    enter` imports this on its fast path, and those cost 2-20 ms of start-up.
    """

    __slots__ = ("cgroup", "container", "container_id", "pid", "runtime", "starttime")

    pid: int
    #: start time of that pid when resolved (with the pid, names one process for good)
    starttime: int
    #: the container's name when the target was given as one, else None
    container: str | None
    #: the container's id, when known
    container_id: str | None
    #: the container's cgroup path (in the cpu/unified hierarchy), when known
    cgroup: str | None
    #: the container's runtime, when known
    runtime: str | None

    def __init__(self, pid: int, starttime: int, container: str | None = None,
                 container_id: str | None = None, cgroup: str | None = None,
                 runtime: str | None = None) -> None:
        for name, value in (("pid", pid), ("starttime", starttime), ("container", container),
                            ("container_id", container_id), ("cgroup", cgroup),
                            ("runtime", runtime)):
            object.__setattr__(self, name, value)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("Target is immutable")

    def _key(self) -> tuple:
        return (self.pid, self.starttime, self.container, self.container_id, self.cgroup,
                self.runtime)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Target) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        return (f"Target(pid={self.pid}, starttime={self.starttime}, "
                f"container={self.container!r}, container_id={self.container_id!r}, "
                f"cgroup={self.cgroup!r}, runtime={self.runtime!r})")

    @property
    def spec(self) -> str:
        """The explicit form naming this target again: ``id:ID`` for a container,
        ``pid:PID`` for a process."""
        if self.container_id is not None:
            return f"id:{self.container_id}"
        return f"pid:{self.pid}"

    @property
    def what(self) -> str:
        """'container web (docker)' or 'pid 1234', for messages."""
        if self.container is not None:
            return f"container {self.container}" + (f" ({self.runtime})" if self.runtime else "")
        return f"pid {self.pid}"

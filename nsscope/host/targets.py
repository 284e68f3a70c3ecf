"""Turning what the user typed (a pid, or a container name / id prefix) into a process.

Every command that acts on something (show, enter, throttle) goes through
``resolve``, so they all accept the same targets.
"""

from __future__ import annotations

from nsscope.host import processes
from nsscope.errors import NoSuchProcess, NsscopeError
from nsscope.kernel.abi import PROC


class Target:
    """What a command acts on: a process, named for good, and its container if any.

    A plain immutable class rather than a dataclass or NamedTuple: `nsscope
    enter` imports this on its fast path, and those cost 2-20 ms of start-up.
    """

    __slots__ = ("cgroup", "container", "container_id", "pid", "starttime")

    pid: int
    #: start time of that pid when resolved (with the pid, names one process for good)
    starttime: int
    #: the container's name when the target was given as one, else None
    container: str | None
    #: the container's id, when known
    container_id: str | None
    #: the container's cgroup path (in the cpu/unified hierarchy), when known
    cgroup: str | None

    def __init__(self, pid: int, starttime: int, container: str | None = None,
                 container_id: str | None = None, cgroup: str | None = None) -> None:
        for name, value in (("pid", pid), ("starttime", starttime), ("container", container),
                            ("container_id", container_id), ("cgroup", cgroup)):
            object.__setattr__(self, name, value)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("Target is immutable")

    def _key(self) -> tuple:
        return (self.pid, self.starttime, self.container, self.container_id, self.cgroup)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Target) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        return (f"Target(pid={self.pid}, starttime={self.starttime}, "
                f"container={self.container!r}, container_id={self.container_id!r}, "
                f"cgroup={self.cgroup!r})")


def resolve(text: str, proc: str = PROC) -> Target:
    """A pid ("1234"), or a container name or id prefix."""
    text = text.strip()
    if text.lstrip("-").isdigit():
        pid = processes.parse_pid(text)
        return Target(pid=pid, starttime=processes.starttime(pid, proc))
    return _resolve_container(text, proc)


def _resolve_container(text: str, proc: str) -> Target:
    """The main process of the container named (or id-prefixed) ``text``."""
    # imported here: a pid (`nsscope enter 1234`) must not pay for the collector
    from nsscope.host.collector import Roots, collect
    from nsscope.host.containers import lookup

    snap = collect(Roots(proc=proc), cgroup_figures=False, fds=False)
    c = lookup(snap.containers, text)
    if c.pid is None or c.pid not in snap.processes:
        raise NsscopeError(f"container {c.name} has no running process")
    p = snap.processes[c.pid]
    return Target(pid=c.pid, starttime=p.starttime, container=c.name, container_id=c.id,
                  cgroup=p.cgroup_for("cpu"))


def check_alive(target: Target, proc: str = PROC) -> None:
    """NoSuchProcess if the pid is gone or now names another process (pid reuse)."""
    if processes.starttime(target.pid, proc) != target.starttime:
        raise NoSuchProcess(target.pid, f"process {target.pid} exited (its pid now names "
                                        "another process)")

"""Turning what the user typed (a pid, or a container name / id prefix) into a process.

Every command that acts on something (show, enter, throttle) goes through
``resolve``, so they all accept the same targets.
"""

from __future__ import annotations

from dataclasses import dataclass

from nsscope import processes
from nsscope.errors import BadInput, NoSuchProcess


@dataclass(frozen=True)
class Target:
    pid: int
    #: start time of that pid when resolved (with the pid, names one process for good)
    starttime: int
    #: the container's name when the target was given as one, else None
    container: str | None = None
    #: the container's id, when known
    container_id: str | None = None
    #: the container's cgroup path (in the cpu/unified hierarchy), when known
    cgroup: str | None = None


def resolve(text: str, proc: str = processes.PROC) -> Target:
    """A pid ("1234") or, once containers are recognised, a container name or id prefix."""
    text = text.strip()
    if text.lstrip("-").isdigit():
        pid = processes.parse_pid(text)
        return Target(pid=pid, starttime=processes.starttime(pid, proc))
    resolver = _container_resolver()
    if resolver is None:
        raise BadInput(f"not a pid: {text!r}")
    return resolver(text, proc)


def _container_resolver():
    """containers.resolve_target when the containers module exists (it maps names to pids)."""
    try:
        from nsscope import containers
    except ImportError:
        return None
    return getattr(containers, "resolve_target", None)


def check_alive(target: Target, proc: str = processes.PROC) -> None:
    """NoSuchProcess if the pid is gone or now names another process (pid reuse)."""
    if processes.starttime(target.pid, proc) != target.starttime:
        raise NoSuchProcess(target.pid, f"process {target.pid} exited (its pid now names "
                                        "another process)")

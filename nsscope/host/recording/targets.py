"""What a view's TARGET names in a recording (``nsscope show TARGET --from FILE``).

The live rules (host/targets.py, issue 13) over the recorded snapshot instead of
/proc and the runtimes' state: a pid; ``pid:``/``id:``/``name:`` forms; otherwise
a container's exact name, exact id, or a clean prefix of one id. Anything that
fits more than one container is refused with the candidates listed.
"""

from __future__ import annotations

from nsscope.errors import BadInput, NoSuchProcess, NsscopeError
from nsscope.host.model import Container, Snapshot
from nsscope.host.target import Target


def recorded_target(snap: Snapshot, text: str) -> Target:
    text = text.strip()
    form, sep, value = text.partition(":")
    if sep and form == "pid":
        return _pid(snap, value)
    if sep and form in ("id", "name"):
        found = [c for c in snap.containers if (c.id if form == "id" else c.name) == value]
        return _one(found, text)
    if text.isascii() and text.isdigit():
        pid = int(text)
        if pid in snap.processes:
            return _pid(snap, text)
    for rule in (lambda c: c.name == text, lambda c: c.id == text,
                 lambda c: len(text) >= 3 and c.id.startswith(text)):
        found = [c for c in snap.containers if rule(c)]
        if found:
            return _one(found, text)
    raise NsscopeError(f"{text}: no such process or container in the recording at this time")


def _pid(snap: Snapshot, value: str) -> Target:
    if not (value.isascii() and value.isdigit()):
        raise BadInput(f"not a pid: {value!r}")
    pid = int(value)
    p = snap.processes.get(pid)
    if p is None:
        raise NoSuchProcess(pid, f"no process {pid} in the recording at this time")
    return Target(pid=pid, starttime=p.starttime)


def _one(found: list[Container], text: str) -> Target:
    if len(found) > 1:
        listed = ", ".join(f"{c.runtime}:{c.id} ({c.name})" for c in found)
        raise BadInput(f"{text}: names {len(found)} containers in the recording: {listed}")
    c = found[0]
    if c.pid is None:
        raise NsscopeError(f"{text}: the container had no process at this time")
    return Target(pid=c.pid, starttime=0, container=c.name, container_id=c.id, cgroup=c.cgroup,
                  runtime=c.runtime)

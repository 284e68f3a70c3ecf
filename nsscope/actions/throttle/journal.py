"""The record of what nsscope changed: one JSON file per limited cgroup under
``/run/nsscope/throttle``, written atomically as the changes are made, and the
lock that serialises every throttle and reset on the host.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import urllib.parse
from collections.abc import Iterator
from typing import Any

from nsscope.actions.throttle.placement import Host
from nsscope.errors import AccessDenied, NoSuchProcess, NsscopeError
from nsscope.host import processes
from nsscope.host.targets import Target

#: where the originals are recorded (tmpfs: a reboot forgets them, as it forgets the limits)
STATE_DIR = "/run/nsscope/throttle"
# --- the record -----------------------------------------------------------------------------

def _record_file(state_dir: str, cgroup: str) -> str:
    return os.path.join(state_dir, urllib.parse.quote(cgroup, safe="") + ".json")


def save(state_dir: str, rec: dict[str, Any]) -> None:
    """Write the record atomically: a new file renamed over the old (rename(2))."""
    path = _record_file(state_dir, rec["cgroup"])
    tmp = f"{path}.{os.getpid()}.tmp"
    data = json.dumps(rec, indent=1, sort_keys=True).encode()
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


def _load(path: str) -> dict[str, Any] | None:
    try:
        with open(path, "rb") as f:
            rec = json.loads(f.read())
    except FileNotFoundError:
        return None
    except ValueError:
        raise NsscopeError(f"{path}: not a record nsscope can read; remove it by hand") \
            from None
    return rec if isinstance(rec, dict) else None


def records(state_dir: str = STATE_DIR) -> list[dict[str, Any]]:
    """Every limit nsscope has set and not reset on this host."""
    try:
        names = sorted(os.listdir(state_dir))
    except FileNotFoundError:
        return []
    out = []
    for name in names:
        if name.endswith(".json"):
            rec = _load(os.path.join(state_dir, name))
            if rec is not None:
                out.append(rec)
    return out


def record_for(cgroup: str, state_dir: str = STATE_DIR) -> dict[str, Any] | None:
    return _load(_record_file(state_dir, cgroup))


def drop(state_dir: str, cgroup: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(_record_file(state_dir, cgroup))


@contextlib.contextmanager
def locked(state_dir: str = STATE_DIR) -> Iterator[None]:
    """The host-wide throttle lock (flock(2) on STATE_DIR/.lock, released if we die)."""
    try:
        os.makedirs(state_dir, mode=0o755, exist_ok=True)
        fd = os.open(os.path.join(state_dir, ".lock"), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC,
                     0o644)
    except PermissionError as e:
        # said as what it is: nsscope's records are root's, and so are cgroup files
        raise AccessDenied(state_dir, f"nsscope throttle needs root: it records what it "
                                      f"changes in {state_dir}, which uid {os.geteuid()} "
                                      f"may not write ({e.filename}: permission denied)"
                           ) from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)

def record_of(target: Target, hst: Host, proc: str, state_dir: str) -> dict[str, Any] | None:
    """The record of the cgroup now limiting ``target``, if nsscope made that limit."""
    if target.cgroup is not None:
        return record_for(target.cgroup, state_dir)
    try:
        current = processes.read_process(target.pid, proc, cmdline=False).cgroups.get(
            hst.cpu.key)
    except NoSuchProcess:
        current = None
    if current is not None:
        rec = record_for(current, state_dir)
        if rec is not None:
            return rec
    for rec in records(state_dir):
        t = rec.get("target", {})
        if t.get("pid") == target.pid and t.get("starttime") == target.starttime:
            return rec
    return None



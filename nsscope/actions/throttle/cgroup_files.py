"""The limit's kernel files: cpu.cfs_quota_us/cpu.cfs_period_us (v1) and cpu.max
(v2), read and written (v1 in the order the kernel accepts).
"""

from __future__ import annotations

import errno
import os

from nsscope.actions.throttle.limit import Limit
from nsscope.errors import AccessDenied, NsscopeError
from nsscope.kernel.syscalls import write_file

# --- kernel files ---------------------------------------------------------------------------

def _read_text(path: str) -> str:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        raise NsscopeError(f"{path} does not exist (is the cpu controller enabled there?)") \
            from None
    try:
        return os.read(fd, 4096).decode()
    finally:
        os.close(fd)


def refused(path: str, value: str, e: OSError, hint: str = "") -> NsscopeError:
    if e.errno in (errno.EACCES, errno.EPERM):
        return AccessDenied(path, f"permission denied writing {value!r} to {path}")
    return NsscopeError(f"{path}: the kernel refused {value!r} ({e.strerror}){hint}")


#: the v1 hierarchy rule that most often refuses a quota
_V1_HINT = ("; on cgroup v1 a cgroup's quota may not exceed its parent's "
            "(tg_cfs_schedulable_down, sched-bwc.rst 'Hierarchical considerations')")


def _write_v1(d: str, quota: str, period: str) -> None:
    """Set cpu.cfs_quota_us and cpu.cfs_period_us, or neither.

    The kernel checks each write against the other file's current value
    (tg_set_cfs_bandwidth), so one order can be refused where the other is
    accepted; if the second write of an order fails, the first is undone and
    the other order tried. On failure both files hold their old values.
    """
    qf, pf = d + "/cpu.cfs_quota_us", d + "/cpu.cfs_period_us"
    old_q, old_p = _read_text(qf).strip(), _read_text(pf).strip()
    steps = [(f, new, old) for f, new, old in ((qf, quota, old_q), (pf, period, old_p))
             if new != old]
    if not steps:
        return
    first_error: tuple[str, str, OSError] | None = None
    for order in (steps, steps[::-1]):
        done = []
        try:
            for f, new, old in order:
                write_file(f, new)
                done.append((f, old))
            return
        except OSError as e:
            if first_error is None:
                first_error = (f, new, e)
            for f_done, old in reversed(done):
                write_file(f_done, old)
        if len(steps) == 1:
            break
    assert first_error is not None
    path, value, err = first_error
    raise refused(path, value, err, _V1_HINT if err.errno == errno.EINVAL else "")


def limit_files(version: int) -> tuple[str, ...]:
    return ("cpu.max",) if version == 2 else ("cpu.cfs_quota_us", "cpu.cfs_period_us")


def read_files(d: str, version: int) -> dict[str, str]:
    return {name: _read_text(f"{d}/{name}") for name in limit_files(version)}


def write_limit(d: str, version: int, limit: Limit) -> None:
    if version == 2:
        value = limit.cpu_max()
        try:
            write_file(d + "/cpu.max", value)
        except OSError as e:
            raise refused(d + "/cpu.max", value, e) from None
    else:
        quota = "-1" if limit.quota_usec is None else str(limit.quota_usec)
        _write_v1(d, quota, str(limit.period_usec))


def write_files(d: str, version: int, files: dict[str, str]) -> None:
    """Put back recorded file contents exactly."""
    if version == 2:
        value = files["cpu.max"].strip()
        try:
            write_file(d + "/cpu.max", value)
        except OSError as e:
            raise refused(d + "/cpu.max", value, e) from None
    else:
        _write_v1(d, files["cpu.cfs_quota_us"].strip(), files["cpu.cfs_period_us"].strip())


def changed_since(written: dict[str, str] | None, now: dict[str, str]) -> str:
    """How the files differ from what nsscope wrote ('cpu.max is 40000 100000, nsscope
    wrote 20000 100000'); '' when they do not (or nothing was written yet)."""
    if written is None:
        return ""
    diffs = [f"{name} is {now[name].strip()}, nsscope wrote {written[name].strip()}"
             for name in sorted(written) if name in now
             and now[name].strip() != written[name].strip()]
    return "; ".join(diffs)


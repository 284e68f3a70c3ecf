"""Acting on an existing container: signal, stop, remove, read its log, collect garbage.

Signals go through a pidfd opened on the recorded pid and checked against the
recorded start time, so a reused pid is never signalled (pidfd_open(2)).
After PID 1 ends, the container's supervisor records the end and removes the
cgroup; ``stop`` and ``rm`` wait for it, and clean up themselves if it is
gone (crashed), which is also what ``gc`` does for every crashed container.
"""

from __future__ import annotations

import errno
import os
import select
import shutil
import signal
import sys
import time

from nsscope.kernel import syscalls
from nsscope.errors import BadInput, NsscopeError
from nsscope.actions.run import net, state
from nsscope.host import runstate
from nsscope.actions.run.cgroup import (CGROUP_ROOT, ContainerCgroup, cgroup_ids, hierarchies,
                                    remove_parent)
from nsscope.host.runstate import RUNNING, RunRecord
from nsscope.kernel.abi import PROC


def parse_signal(text: str) -> int:
    """'TERM', 'SIGTERM', 'term' or '15' -> 15."""
    t = text.strip().upper()
    if t.isdigit():
        num = int(t)
        if num in {int(s) for s in signal.valid_signals()}:
            return num
    else:
        name = t if t.startswith("SIG") else "SIG" + t
        sig = getattr(signal.Signals, name, None) if name in signal.Signals.__members__ else None
        if sig is not None:
            return int(sig)
    raise BadInput(f"not a signal: {text!r}")


def _open(pid: int | None, starttime: int | None, proc: str = PROC) -> int | None:
    """A pidfd for the process ``pid`` started at ``starttime``, None if it is gone."""
    if not pid:
        return None
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return None
    # checked after opening: from here the fd names this process, reused pid or not
    if runstate.is_alive(pid, starttime, proc):
        return fd
    os.close(fd)
    return None


def _wait_fd(fd: int, timeout: float) -> bool:
    """True if the process behind the pidfd exited within ``timeout`` seconds."""
    p = select.poll()
    p.register(fd, select.POLLIN)
    return bool(p.poll(max(0, int(timeout * 1000))))


def send_signal(c: RunRecord, sig: int, proc: str = PROC) -> bool:
    """Signal the container's PID 1; False if it is not running."""
    fd = _open(c.pid, c.starttime, proc)
    if fd is None:
        return False
    try:
        syscalls.pidfd_send_signal(fd, sig)
        return True
    except ProcessLookupError:
        return False
    finally:
        os.close(fd)


def _wait_gone(pid: int | None, starttime: int | None, timeout: float, proc: str) -> bool:
    """True once the process ``pid`` that started at ``starttime`` is gone (within
    ``timeout`` seconds)."""
    fd = _open(pid, starttime, proc)
    if fd is None:
        return True
    try:
        return _wait_fd(fd, timeout)
    finally:
        os.close(fd)


def wait_exit(c: RunRecord, timeout: float, proc: str = PROC) -> bool:
    """True once the container's PID 1 is gone (within ``timeout`` seconds)."""
    return _wait_gone(c.pid, c.starttime, timeout, proc)


def wait_monitor(c: RunRecord, timeout: float = 10.0, proc: str = PROC) -> bool:
    """Wait for the supervisor to record the end and exit; False if it is still there.

    The supervisor is the foreground CLI or the -d monitor: either exits right
    after recording the end and removing the cgroup.
    """
    return _wait_gone(c.monitor_pid, c.monitor_starttime, timeout, proc)


def stop(c: RunRecord, timeout: float = 10.0, proc: str = PROC) -> None:
    """SIGTERM, then SIGKILL after ``timeout`` seconds (docker stop)."""
    running = c.status == RUNNING and send_signal(c, signal.SIGTERM, proc)
    if running and not wait_exit(c, timeout, proc):
        send_signal(c, signal.SIGKILL, proc)
        if not wait_exit(c, 10.0, proc):
            raise NsscopeError(f"container {c.name} did not die of SIGKILL within 10 s")
    if not wait_monitor(c, 10.0, proc):
        raise NsscopeError(f"container {c.name} stopped, but its supervisor (pid "
                           f"{c.monitor_pid}) did not finish within 10 s")
    fresh = runstate.load(c.id, _run_dir(c), proc)
    if fresh is not None and fresh.crashed:
        cleanup(fresh, keep_state=not fresh.remove)


def remove(c: RunRecord, force: bool = False, proc: str = PROC) -> None:
    """Remove a stopped container (with ``force``, kill a running one first)."""
    if c.status == RUNNING:
        if not force:
            raise NsscopeError(f"container {c.name} is running: stop it first "
                               f"(nsscope stop {c.name}) or use rm -f")
        send_signal(c, signal.SIGKILL, proc)
        if not wait_exit(c, 10.0, proc):
            raise NsscopeError(f"container {c.name} did not die of SIGKILL within 10 s")
    wait_monitor(c, 10.0, proc)
    cleanup(c)


def cleanup(c: RunRecord, keep_state: bool = False, cgroup_root: str = CGROUP_ROOT,
            proc: str = PROC) -> list[str]:
    """Remove what a container left: cgroup (after killing its members), veth, state, name."""
    cg = ContainerCgroup(c.id, cgroup_root, proc)
    left: list[str] = []
    if cg.exists():
        cg.kill_all()
        left = cg.remove()
    net.disconnect(c.id)
    if keep_state:
        state.update_state(c.dir, status=runstate.STOPPED, leftover=left or None)
    else:
        state.release_name(c.name, c.id, _run_dir(c))
        shutil.rmtree(c.dir, ignore_errors=True)
    return left


def _run_dir(c: RunRecord) -> str:
    return os.path.dirname(os.path.dirname(c.dir))


def print_log(c: RunRecord, follow: bool = False, proc: str = PROC) -> None:
    """Copy the container's log (stdout and stderr of a -d run) to our stdout."""
    path = os.path.join(c.dir, "log")
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        raise NsscopeError(f"container {c.name} has no log (only -d runs are logged)") \
            from None
    out = sys.stdout.buffer
    try:
        while True:
            data = os.read(fd, 65536)
            if data:
                out.write(data)
                continue
            out.flush()
            if not follow:
                return
            fresh = runstate.load(c.id, _run_dir(c), proc)
            if fresh is None or fresh.status == runstate.STOPPED:
                # one last read: what it wrote while we looked
                while data := os.read(fd, 65536):
                    out.write(data)
                out.flush()
                return
            time.sleep(0.2)
    finally:
        os.close(fd)


def gc(run_dir: str = runstate.RUN_DIR, cgroup_root: str = CGROUP_ROOT,
       proc: str = PROC, stopped: bool = False) -> list[str]:
    """Remove what crashed runs left (and, with ``stopped``, stopped containers too).

    A crashed run is one whose supervisor died without recording the end
    (SIGKILL, OOM kill, a reboot when /run is on disk). For each: its cgroups
    (members killed first), state directory and name. Then cgroups
    ``/nsscope/<id>`` with no state at all, name links to nothing, and mounts
    under the run directory (nsscope never mounts on the host, but a manual
    experiment may have).
    """
    done: list[str] = []
    known: set[str] = set()
    for c in runstate.list_containers(run_dir, proc):
        known.add(c.id)
        if c.crashed or (c.status == runstate.STOPPED and (stopped or c.remove)):
            if c.status == RUNNING:
                continue
            left = cleanup(c, cgroup_root=cgroup_root, proc=proc)
            why = "crashed" if c.crashed else "stopped"
            done.append(f"removed container {c.short_id} {c.name} ({why})"
                        + (f"; could not remove {', '.join(left)}" if left else ""))
    # state directories without a readable state.json, older than a minute
    # (younger ones may be a run being created right now)
    try:
        entries = os.listdir(runstate.containers_dir(run_dir))
    except FileNotFoundError:
        entries = []
    for cid in entries:
        d = runstate.container_dir(cid, run_dir)
        if cid in known:
            continue
        try:
            age = time.time() - os.stat(d).st_mtime
        except FileNotFoundError:
            continue
        if age > 60:
            shutil.rmtree(d, ignore_errors=True)
            done.append(f"removed unreadable state {cid[:12]}")
        known.add(cid)
    for cid in sorted(cgroup_ids(cgroup_root, proc) - known):
        cg = ContainerCgroup(cid, cgroup_root, proc)
        cg.kill_all()
        left = cg.remove()
        done.append(f"removed cgroup {cg.path}" + (f" (except {', '.join(left)})" if left
                                                   else ""))
    for h in hierarchies(cgroup_root, proc):
        remove_parent(h)
    for name in state.stale_names(run_dir):
        try:
            os.unlink(os.path.join(runstate.names_dir(run_dir), name))
            done.append(f"removed stale name {name}")
        except FileNotFoundError:
            pass
    # the bridge once no container is on it, under the lock runs attach with
    lock_path = os.path.join(run_dir, "net.lock")
    if os.path.exists(lock_path):
        import fcntl
        lock = os.open(lock_path, os.O_RDWR | os.O_CLOEXEC)
        try:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if net.remove_bridge_if_unused():
                done.append(f"removed bridge {net.BRIDGE} (no container on it)")
        finally:
            os.close(lock)
    for point in _mounts_under(run_dir, proc):
        try:
            syscalls.umount2(point, syscalls.MNT_DETACH)
            done.append(f"unmounted {point}")
        except OSError as e:
            if e.errno not in (errno.EINVAL, errno.ENOENT):
                raise
    return done


def gc_images(run_dir: str = runstate.RUN_DIR, cache_dir: str | None = None,
              proc: str = PROC) -> list[str]:
    """Remove the cached roots (extracted images, busybox builds) that no container,
    running or stopped, was made from (``nsscope gc --images``)."""
    from nsscope.actions.run import rootfs
    used = {c.rootfs for c in runstate.list_containers(run_dir, proc) if c.rootfs}
    for c in runstate.list_containers(run_dir, proc):
        st = runstate.read_json(os.path.join(c.dir, "state.json")) or {}
        if st.get("rootfs"):
            used.add(st["rootfs"])
    done: list[str] = []
    for base in rootfs._cache_bases(cache_dir or rootfs.CACHE_DIR, run_dir):
        for kind in ("images", "busybox"):
            d = os.path.join(base, kind)
            try:
                entries = sorted(os.listdir(d))
            except FileNotFoundError:
                continue
            for name in entries:
                path = os.path.join(d, name)
                if name.startswith(".") or path in used:
                    continue
                shutil.rmtree(path, ignore_errors=True)
                done.append(f"removed cached {kind[:-1] if kind == 'images' else kind} {path}")
    return done


def _mounts_under(path: str, proc: str = PROC) -> list[str]:
    from nsscope.host.mountinfo import unescape as unescape_mountinfo
    out: list[str] = []
    try:
        with open(f"{proc}/self/mountinfo", "rb") as f:
            lines = f.read().decode("utf-8", "replace").splitlines()
    except OSError:
        return out
    prefix = path.rstrip("/") + "/"
    for line in lines:
        point = unescape_mountinfo(line.split(" ")[4])
        if point.startswith(prefix):
            out.append(point)
    return sorted(out, key=len, reverse=True)

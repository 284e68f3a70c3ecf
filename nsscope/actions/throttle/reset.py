"""``reset``: put back what ``apply`` recorded (files byte for byte, moved processes,
made cgroups), and ``prune`` records whose cgroups are gone.
"""

from __future__ import annotations

import errno
import os
import time
from nsscope.actions.throttle.cgroup_files import (
    changed_since,
    limit_files,
    read_files,
    write_files,
)
from nsscope.actions.throttle.journal import (
    STATE_DIR,
    Record,
    drop,
    locked,
    record_of,
    records,
)
from nsscope.actions.throttle.outcome import FileChange, Outcome
from nsscope.actions.throttle.placement import (
    LIVE,
    PARENT,
    Host,
    hierarchies_of,
    host,
    parent_of,
    words,
)
from nsscope.actions.throttle.systemd import systemctl_quota
from nsscope.errors import NsscopeError
from nsscope.host import cgroups, processes
from nsscope.host.collector import Roots
from nsscope.host.model import Hierarchy
from nsscope.host.target import Target
from nsscope.kernel.syscalls import write_file

# --- reset ----------------------------------------------------------------------------------

class ChangedSince(NsscopeError):
    """Someone changed a limit nsscope set: --reset changes nothing unless forced."""


def reset(target: Target | int, *, roots: Roots = LIVE, state_dir: str = STATE_DIR,
          force: bool = False) -> Outcome:
    """Undo what nsscope did to ``target``'s cgroup (a Target, or the pid of one that exited).

    If the limit files no longer hold what nsscope wrote (``docker update``, systemd, an
    admin changed them since), nothing is changed and ChangedSince says what was found,
    what nsscope wrote and what would be restored; ``force`` restores the original anyway.
    """
    hst = host(roots)
    with locked(state_dir):
        if isinstance(target, Target):
            rec = record_of(target, hst, roots.proc, state_dir)
            what = target.what
        else:
            rec = next((r for r in records(state_dir) if r.target.pid == target), None)
            what = f"pid {target}"
        if rec is None:
            raise NsscopeError(f"nothing to reset: nsscope has no limit recorded for {what}")
        out = undo(rec, hst, state_dir, force=force)
        prune(hst, state_dir)
        return out


def prune(hst: Host, state_dir: str = STATE_DIR) -> list[str]:
    """Forget the records nothing is left of; the cgroups concerned. Called under the lock.

    A container removed while limited takes its cgroup with it: its record has
    nothing left to restore. (The record of a throttled process that exited is
    kept: its throttle cgroup stays until ``--reset``, which removes it.)
    """
    done = []
    for rec in records(state_dir):
        d = cgroups.dir_of(hst.cpu, rec.cgroup)
        if d is None or not os.path.isdir(d):
            _remove_created(rec, hst, [])
            drop(state_dir, rec.cgroup)
            done.append(rec.cgroup)
    return done


def undo(rec: Record, hst: Host, state_dir: str, *, force: bool = False) -> Outcome:
    """Restore the files, move processes back, remove what was made; then drop the record.

    Works from a partly staged record too (a throttle that failed or died
    half-way): each step skips what never happened. Refuses (ChangedSince), changing
    nothing, when the files no longer hold what nsscope wrote, unless ``force``.
    """
    cgroup = rec.cgroup
    version = rec.version
    notes: list[str] = []
    d = hst.dir(cgroup)
    changes: list[FileChange] = []
    via = "file"
    if rec.files is not None and os.path.isdir(d):
        before = read_files(d, version)
        outside = changed_since(rec.written, before)
        original = "; ".join(f"{n} {rec.files[n].strip()}" for n in limit_files(version))
        if outside and not force:
            raise ChangedSince(
                f"{d} was changed since nsscope limited it: {outside}. --reset would "
                f"restore {original}, undoing that change: nothing was changed (--reset "
                "--force restores it anyway)")
        if outside:
            notes.append(f"{d} was changed since nsscope limited it ({outside}): restored "
                         f"{original} as --force asked")
        if _differ(before, rec.files):
            if rec.unit:
                why = systemctl_quota(rec.unit, None)
                if why is None:
                    via = "systemctl"
                else:
                    notes.append(f"{why}; restored the cgroup file instead")
            if _differ(read_files(d, version), rec.files):
                write_files(d, version, rec.files)
        after = read_files(d, version)
        changes = [FileChange(f"{d}/{n}", before[n].strip(), after[n].strip())
                   for n in limit_files(version)]
    moved = _move_back(rec, hst, notes)
    removed = _remove_created(rec, hst, notes)
    for a in reversed(rec.enabled):
        _disable_cpu(hst, a, notes)
    drop(state_dir, cgroup)
    return Outcome(cgroup=cgroup, version=version, dir=d, changes=tuple(changes),
                   moved=tuple(moved), cgroups=tuple(removed), notes=tuple(dict.fromkeys(notes)),
                   via=via, reason=rec.reason)


def _differ(a: dict[str, str], b: dict[str, str]) -> bool:
    return {k: v.strip() for k, v in a.items()} != {k: v.strip() for k, v in b.items()}


def _move_back(rec: Record, hst: Host, notes: list[str]) -> list[int]:
    """Every process still where nsscope put them back where it came from.

    Processes nsscope moved go back to their recorded cgroups; any other
    (children forked inside after the move) go where the target came from. A
    moved process that is no longer in nsscope's cgroup was moved by someone
    else since: it stays where they put it.
    """
    if not rec.moved:
        return []
    default = rec.target.cgroups or {}
    by_pid = {m.pid: m for m in rec.moved}
    back: list[int] = []
    seen: set[int] = set()
    for h in hierarchies_of(hst):
        placed = rec.placed.get(h.key)
        d = cgroups.dir_of(h, placed) if placed else None
        if d is None or not os.path.isdir(d):
            continue
        # a process may fork while we move its family out: read the members again
        # until none is left (or a few rounds leave a process that will not move)
        for _ in range(10):
            members = cgroups.read_procs(d)
            if not members:
                break
            for pid in members:
                seen.add(pid)
                m = by_pid.get(pid)
                origin = default
                if m is not None and _same_process(pid, m.starttime, hst.proc):
                    origin = m.came_from
                dest = origin.get(h.key) or default.get(h.key) or "/"
                if _move_to(pid, h, dest, notes) and h is hst.cpu and pid not in back:
                    back.append(pid)
    notes.extend(f"pid {m.pid} was moved out of {rec.cgroup} since nsscope put it there: "
                 "left where it is now" for m in rec.moved
                 if m.pid not in seen and _same_process(m.pid, m.starttime, hst.proc))
    return back


def _same_process(pid: int, start: int | None, proc: str) -> bool:
    try:
        return processes.starttime(pid, proc) == start
    except NsscopeError:
        return False


def _move_to(pid: int, h: Hierarchy, dest: str, notes: list[str]) -> bool:
    """Move ``pid`` into ``dest`` of ``h``, or its nearest existing ancestor if it is gone."""
    path = dest
    while True:
        d = cgroups.dir_of(h, path)
        if d is not None and os.path.isdir(d):
            break
        if path == "/":
            return False
        path = parent_of(path)
    if path != dest:
        notes.append(f"pid {pid}'s old cgroup {dest} is gone: moved it to {path}")
    try:
        write_file(d + "/cgroup.procs", str(pid))
    except ProcessLookupError:
        return False
    except OSError as e:
        notes.append(f"could not move pid {pid} back to {path} ({e.strerror})")
        return False
    return True


def _rmdir(d: str) -> bool:
    """rmdir a cgroup, giving exiting tasks a moment to leave it (EBUSY until they do)."""
    for _ in range(50):
        try:
            os.rmdir(d)
            return True
        except FileNotFoundError:
            return False
        except OSError as e:
            if e.errno not in (errno.EBUSY, errno.ENOTEMPTY):
                raise
            time.sleep(0.02)
    return False


def _remove_created(rec: Record, hst: Host, notes: list[str]) -> list[str]:
    removed = []
    for key, path in reversed(rec.created):
        h = hst.by_key(key)
        d = cgroups.dir_of(h, path) if h is not None else None
        if d is None or not os.path.isdir(d):
            continue
        if path == PARENT:
            continue  # below: only once empty
        if _rmdir(d):
            if h is hst.cpu:
                removed.append(path)
        else:
            notes.append(f"could not remove {d}: it still holds processes")
    # /nsscope is nsscope's alone; it goes when nothing of nsscope's is left in it
    for h in hierarchies_of(hst):
        d = cgroups.dir_of(h, PARENT)
        if d is None or not os.path.isdir(d):
            continue
        try:
            os.rmdir(d)
        except OSError:
            continue  # another throttle (or nsscope run) still uses it
        if h is hst.cpu:
            removed.append(PARENT)
    return removed


def _disable_cpu(hst: Host, path: str, notes: list[str]) -> None:
    """Take back a +cpu nsscope wrote to ``path``'s subtree_control, unless a child now
    uses the cpu controller (a limit, a weight, or cpu enabled further down)."""
    d = cgroups.dir_of(hst.cpu, path)
    if d is None or not os.path.isdir(d):
        return
    try:
        kids = [e.path for e in os.scandir(d) if e.is_dir(follow_symlinks=False)]
    except OSError:
        return
    for k in kids:
        cpu_max = words(k + "/cpu.max")
        weight = words(k + "/cpu.weight")
        if ((cpu_max and cpu_max[0] != "max") or (weight and weight[0] != "100")
                or "cpu" in words(k + "/cgroup.subtree_control")):
            notes.append(f"left +cpu in {path}'s cgroup.subtree_control: {k} uses the cpu "
                         "controller now")
            return
    try:
        write_file(d + "/cgroup.subtree_control", "-cpu")
    except OSError as e:
        notes.append(f"left +cpu in {path}'s cgroup.subtree_control ({e.strerror})")



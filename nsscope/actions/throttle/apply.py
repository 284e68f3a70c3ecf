"""``apply``: put a limit on a target, recording first what it changes."""

from __future__ import annotations

import contextlib
import os

from nsscope.actions.throttle.cgroup_files import (
    changed_since,
    limit_files,
    read_files,
    refused,
    write_limit,
)
from nsscope.actions.throttle.journal import (
    STATE_DIR,
    Moved,
    Origin,
    Record,
    locked,
    record_for,
    record_of,
    save,
)
from nsscope.actions.throttle.limit import DEFAULT_PERIOD_USEC, Limit
from nsscope.actions.throttle.outcome import FileChange, Outcome
from nsscope.actions.throttle.placement import (
    LIVE,
    PARENT,
    Host,
    Placement,
    ancestors,
    hierarchies_of,
    host,
    origins,
    parent_of,
    plan,
    throttleable,
)
from nsscope.actions.throttle.reset import prune, undo
from nsscope.actions.throttle.systemd import SYSTEMD_DIR, systemctl_quota
from nsscope.errors import NoSuchProcess, NsscopeError
from nsscope.host import cgroups, processes
from nsscope.host.collector import Roots
from nsscope.host.model import Cgroup, Hierarchy
from nsscope.host.target import Target
from nsscope.host.targets import check_alive
from nsscope.kernel.syscalls import write_file


def apply(target: Target, limit: Limit, *, tree: bool = False, roots: Roots = LIVE,
          state_dir: str = STATE_DIR, systemd_dir: str = SYSTEMD_DIR,
          force: bool = False) -> Outcome:
    """Limit ``target``'s CPU; the first change to a cgroup records its original.
    ``force``: move a process out of limits it is under (see placement.plan)."""
    pid = processes.tgid(target.pid, roots.proc)
    notes: list[str] = []
    if pid != target.pid:
        notes.append(f"pid {target.pid} is a thread of process {pid}: limiting the process")
        target = Target(pid=pid, starttime=processes.starttime(pid, roots.proc),
                        container=target.container, container_id=target.container_id,
                        cgroup=target.cgroup, runtime=target.runtime)
    hst = host(roots)
    with locked(state_dir):
        check_alive(target, roots.proc)
        throttleable(target.pid, roots.proc)  # before anything is touched
        prune(hst, state_dir)
        rec = record_of(target, hst, roots.proc, state_dir)
        if rec is not None:
            return _reapply(rec, target, limit, hst, tree=tree, roots=roots,
                            state_dir=state_dir, notes=notes)
        if limit.quota_usec is None and target.cgroup is None:
            nothing = _nothing_to_lift(target, hst, roots)
            if nothing is not None:
                return nothing
        p = plan(target, hst, tree=tree, roots=roots, systemd_dir=systemd_dir, force=force,
                 limit=limit)
        stale = record_for(p.cgroup, state_dir)
        if stale is not None:
            # a record of an earlier process with the same pid (pid reuse), or of the
            # cgroup for another target: undone first, unless someone changed it since
            undo(stale, hst, state_dir)
            notes.append(f"undid an earlier nsscope limit on {p.cgroup} (recorded for pid "
                         f"{stale.target.pid}, which is gone)")
        return _first(p, target, limit, hst, roots=roots, state_dir=state_dir, notes=notes)


def _nothing_to_lift(target: Target, hst: Host, roots: Roots) -> Outcome | None:
    """'max' for a process that no limit binds: nothing to do (moving it out would only
    make a cgroup to hold no limit). None when a limit does bind it."""
    current = processes.read_process(target.pid, roots.proc, cmdline=False).cgroups[hst.cpu.key]
    for path in (*ancestors(current), current):
        cg = hst.read(path)
        if cg is not None and cg.cpu is not None and cg.cpu.quota_usec is not None:
            return None
    return Outcome(cgroup=current, version=hst.version, dir=hst.dir(current),
                   notes=(f"no CPU limit binds pid {target.pid} (cgroup {current} and its "
                          "ancestors are unlimited): nothing changed",),
                   limit=Limit(None))


def _first(p: Placement, target: Target, limit: Limit, hst: Host, *, roots: Roots,
           state_dir: str, notes: list[str]) -> Outcome:
    rec = Record(cgroup=p.cgroup, version=hst.version, hierarchy=hst.cpu.key,
                 target=Origin(pid=target.pid, starttime=target.starttime,
                               container=target.container,
                               container_id=target.container_id,
                               cgroups=p.origins.get(target.pid)),
                 reason=p.reason, unit=p.unit, placed=dict(p.dests))
    save(state_dir, rec)
    created: list[str] = []
    try:
        if p.move:
            for h in hierarchies_of(hst):
                if h.key in p.dests:
                    created += _mkdirs(hst, h, p.dests[h.key], rec, state_dir)
        d = hst.dir(p.cgroup)
        for a in p.enable:
            rec.enabled.append(a)
            save(state_dir, rec)
            write_file(hst.dir(a) + "/cgroup.subtree_control", "+cpu")
        rec.files = read_files(d, hst.version)
        save(state_dir, rec)
        via = _set(d, hst.version, limit, p.unit, notes)
        rec.written = read_files(d, hst.version)
        save(state_dir, rec)
        moved = _move_in(p, hst, rec, state_dir, notes)
    except BaseException:
        try:
            undo(rec, hst, state_dir, force=True)  # our own half-made change
        except (NsscopeError, OSError):
            pass  # the staged record stays: `nsscope throttle --reset` finishes the undo
        raise
    assert rec.files is not None and rec.written is not None
    changes = tuple(FileChange(f"{d}/{n}", rec.files[n].strip(), rec.written[n].strip())
                    for n in limit_files(hst.version))
    return Outcome(cgroup=p.cgroup, version=hst.version, dir=d, changes=changes, moved=moved,
                   cgroups=tuple(created), notes=tuple(notes), via=via, reason=p.reason,
                   limit=limit)


def _shows(d: str, version: int, limit: Limit) -> bool:
    """Whether the cgroup's files hold ``limit``."""
    files = read_files(d, version)
    if version == 2:
        return files["cpu.max"].split() == limit.cpu_max().split()
    quota = "-1" if limit.quota_usec is None else str(limit.quota_usec)
    return (files["cpu.cfs_quota_us"].strip(), files["cpu.cfs_period_us"].strip()) == \
        (quota, str(limit.period_usec))


def _mkdirs(hst: Host, h: Hierarchy, cgroup: str, rec: Record, state_dir: str) -> list[str]:
    """Make ``cgroup`` in ``h`` (and /nsscope above it when it goes there); the paths made
    (cpu hierarchy only). A cgroup beneath the process's own needs that one to exist.

    ``nsscope run`` removes an empty /nsscope when its last container goes,
    without this module's lock: if it does so between our two mkdirs, again.
    """
    made: list[str] = []
    paths = [PARENT, cgroup] if parent_of(cgroup) == PARENT else [cgroup]
    for _ in range(20):
        try:
            for path in paths:
                d = hst.dir(path, h)
                if os.path.isdir(d):
                    continue
                if (h.key, path) not in rec.created:
                    rec.created.append((h.key, path))
                    save(state_dir, rec)
                with contextlib.suppress(FileExistsError):
                    os.mkdir(d)
                if h is hst.cpu and path not in made:
                    made.append(path)
            return made
        except FileNotFoundError:
            if parent_of(cgroup) != PARENT:
                raise NsscopeError(f"cannot create {hst.dir(cgroup, h)}: its parent cgroup "
                                   "is gone (the process moved, or its container ended)"
                                   ) from None
            continue
    raise NsscopeError(f"cannot create {hst.dir(cgroup, h)}: {PARENT} keeps disappearing")


def _set(d: str, version: int, limit: Limit, unit: str | None, notes: list[str]) -> str:
    if unit is not None:
        why = systemctl_quota(unit, limit)
        # systemctl may succeed without doing anything (it ignores set-property in a
        # chroot, src/systemctl: running_in_chroot_or_offline()): believe the file
        if why is None and _shows(d, version, limit):
            return "systemctl"
        if why is None:
            why = f"systemctl set-property {unit} left the cgroup file unchanged"
        notes.append(f"{why}; wrote the cgroup file instead (systemd may rewrite it)")
    write_limit(d, version, limit)
    return "file"


def _move_in(p: Placement, hst: Host, rec: Record, state_dir: str,
             notes: list[str]) -> tuple[int, ...]:
    """Move each pid of the plan into its destination, in every hierarchy where it is
    where the target was (a process elsewhere in a companion hierarchy stays there)."""
    moved = []
    target_origin = p.origins.get(rec.target.pid, {})
    for pid in p.move:
        origin = p.origins.get(pid)
        if origin is None:
            continue  # exited since the plan
        try:
            start = processes.starttime(pid, hst.proc)
        except NoSuchProcess:
            continue
        m = Moved(pid=pid, starttime=start)
        rec.moved.append(m)
        for h in hierarchies_of(hst):
            dest = p.dests.get(h.key)
            if dest is None or h.key not in origin or \
                    (h is not hst.cpu and origin[h.key] != target_origin.get(h.key)):
                continue
            m.came_from[h.key] = origin[h.key]
            save(state_dir, rec)
            procs = hst.dir(dest, h) + "/cgroup.procs"
            try:
                write_file(procs, str(pid))
            except ProcessLookupError:
                break  # exited: nothing to move
            except OSError as e:
                if h is hst.cpu:
                    raise refused(procs, str(pid), e) from None
                del m.came_from[h.key]
                save(state_dir, rec)
                notes.append(f"could not move pid {pid} in the {h.mountpoint} hierarchy "
                             f"({e.strerror}): its usage/pressure there stays its old cgroup's")
        else:
            moved.append(pid)
    return tuple(moved)


def _reapply(rec: Record, target: Target, limit: Limit, hst: Host, *, tree: bool,
             roots: Roots, state_dir: str, notes: list[str]) -> Outcome:
    """A cgroup nsscope already limited: change the limit, keep the recorded original —
    unless someone changed the files since nsscope wrote them: then what they set
    becomes the original --reset restores, and the user is told."""
    cgroup = rec.cgroup
    d = hst.dir(cgroup)
    before = read_files(d, hst.version)
    outside = changed_since(rec.written, before)
    if outside:
        notes.append(f"{d} was changed since nsscope wrote it ({outside}): that is now the "
                     "original --reset restores, not the one recorded before nsscope's first "
                     "limit")
        rec.files = before
        save(state_dir, rec)
    via = _set(d, hst.version, limit, rec.unit, notes)
    rec.written = read_files(d, hst.version)
    save(state_dir, rec)
    moved: tuple[int, ...] = ()
    if tree and rec.moved:
        # --tree after a plain throttle: bring the descendants still in the old cgroup
        old = (rec.target.cgroups or {}).get(hst.cpu.key)
        if old is not None:
            members = set(cgroups.read_procs(hst.dir(old)))
            kids = [k for k in processes.descendants(target.pid, roots.proc) if k in members]
            p = Placement(cgroup=cgroup, move=tuple(kids), origins=origins(kids, hst, roots.proc),
                     reason="", dests=dict(rec.placed))
            moved = _move_in(p, hst, rec, state_dir, notes)
    changes = tuple(FileChange(f"{d}/{n}", before[n].strip(), rec.written[n].strip())
                    for n in limit_files(hst.version))
    if not outside:
        notes.append(f"nsscope limited {cgroup} before: its original stays recorded for "
                     "--reset")
    return Outcome(cgroup=cgroup, version=hst.version, dir=d, changes=changes, moved=moved,
                   notes=tuple(notes), via=via, reason=rec.reason, limit=limit)

# --- for --watch --------------------------------------------------------------------------

def limited_cgroup(target: Target, roots: Roots = LIVE, state_dir: str = STATE_DIR) -> str:
    """The cgroup whose figures tell how ``target`` is throttled: the one nsscope limited,
    else the container's, else the process's own in the cpu hierarchy."""
    hst = host(roots)
    rec = record_of(target, hst, roots.proc, state_dir)
    if rec is not None:
        return rec.cgroup
    if target.cgroup is not None:
        return target.cgroup
    p = processes.read_process(target.pid, roots.proc, cmdline=False)
    return p.cgroups.get(hst.cpu.key, "/")


def current_limit(cg: Cgroup | None) -> Limit:
    """The limit a cgroup's figures show (unlimited when unknown)."""
    if cg is None or cg.cpu is None:
        return Limit(None)
    return Limit(cg.cpu.quota_usec, cg.cpu.period_usec or DEFAULT_PERIOD_USEC)

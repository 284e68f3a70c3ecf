"""nsscope run's own containers, from its records (``nsscope.host.runstate``):
running ones named, stopped ones listed for ``ps -a``.
"""

from __future__ import annotations

import os

from nsscope.host import runstate
from nsscope.host.containers.info import Info
from nsscope.host.containers.state_paths import Context, StatePaths
from nsscope.host.model import Container, Snapshot
from nsscope.kernel.abi import PROC


def from_nsscope(ctx: Context, info: Info) -> None:
    """nsscope run's own record (nsscope.actions.run.state): name, PID 1, rootfs ("" = the
    host's /)."""
    for run_dir in ctx.paths.nsscope:
        rec = runstate.load(info.id, run_dir, ctx.proc)
        if rec is not None:
            info.name = rec.name or info.name
            info.rootfs = rec.rootfs or None
            info.created = rec.created or None
            if rec.pid:
                info.pid = rec.pid
            return


def not_running(snap: Snapshot, proc: str = PROC,
                paths: StatePaths = StatePaths()) -> list[Container]:
    """nsscope run's containers that have no running PID 1: stopped ones (kept, with
    their exit status, until ``nsscope rm``: what ``docker ps -a`` adds) and ones
    being created. From the runtime's records (nsscope.actions.run.state.list_containers,
    which derives the status from the live pid); those in ``snap.containers`` (seen
    running) are not listed twice. The cgroup is named only while it exists."""
    seen = {c.id for c in snap.containers if c.runtime == "nsscope"}
    out = []
    for run_dir in paths.nsscope:
        for rec in runstate.list_containers(run_dir, proc):
            if rec.id in seen or rec.status == runstate.RUNNING:
                continue
            seen.add(rec.id)
            cgroup = rec.cgroup if any(os.path.isdir(h.mountpoint + rec.cgroup)
                                       for h in snap.hierarchies) else None
            out.append(Container(
                id=rec.id, short_id=rec.short_id, name=rec.name or rec.short_id,
                runtime="nsscope", pid=None, pids=(), state=rec.status, cgroup=cgroup,
                rootfs=rec.rootfs or None, exit_code=rec.exit_code,
                created=rec.created or None, finished_at=rec.finished,
                command=" ".join(rec.command) or None))
    return out



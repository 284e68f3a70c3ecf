"""containers/storage (podman, CRI-O): conmon's command line and
containers.json in the graph root.
"""

from __future__ import annotations

import os

from nsscope.host.containers.files import basename, option, read_json
from nsscope.jsontext import loads as json_loads
from nsscope.host.containers.info import Info
from nsscope.host.containers.oci import from_bundle
from nsscope.host.containers.state_paths import Context


def conmon_of(ctx: Context, pid: int) -> tuple[str | None, str | None, str | None] | None:
    """(container id, name, bundle) if ``pid``'s parent is conmon (podman, CRI-O).

    conmon runs as ``conmon -c <id> -n <name> -b <bundle> …`` (conmon
    src/cli.c: --cid, --name, --bundle).
    """
    p = ctx.snap.processes.get(pid)
    parent = ctx.snap.processes.get(p.ppid) if p else None
    if parent is None or not parent.cmdline or basename(parent.cmdline[0]) != "conmon":
        return None
    return (option(parent.cmdline, "-c", "--cid"), option(parent.cmdline, "-n", "--name"),
            option(parent.cmdline, "-b", "--bundle"))


def from_storage(info: Info, storage: str) -> bool:
    """containers/storage: <root>/<driver>-containers/containers.json (names, metadata).

    The metadata is a JSON string written by the runtime: podman's and CRI-O's
    RuntimeContainerMetadata (image-name, name, pod-name, pod-id; cri-o
    internal/storage/runtime.go, podman libpod/storage.go).
    """
    try:
        drivers = [e for e in os.listdir(storage) if e.endswith("-containers")]
    except OSError:
        return False
    for d in sorted(drivers):
        base = os.path.join(storage, d)
        for rec in read_json(os.path.join(base, "containers.json")) or ():
            if not isinstance(rec, dict) or rec.get("id") != info.id:
                continue
            names = rec.get("names") or []
            if names and info.name is None:
                info.name = names[0]
            try:
                meta = json_loads(rec.get("metadata") or "{}")
            except ValueError:
                meta = {}
            info.image = info.image or meta.get("image-name")
            info.pod = info.pod or meta.get("pod-name")
            from_bundle(info, os.path.join(base, info.id, "userdata"))
            return True
        userdata = os.path.join(base, info.id, "userdata")
        if os.path.isdir(userdata):
            from_bundle(info, userdata)
            return True
    return False



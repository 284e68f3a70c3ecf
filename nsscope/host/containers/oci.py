"""OCI bundles and the runc/crun state directories (containers started by a bare
OCI runtime).
"""

from __future__ import annotations

import os

from nsscope.host.containers.files import read_json
from nsscope.host.containers.info import Info
from nsscope.host.containers.kubelet import from_annotations
from nsscope.host.containers.state_paths import Context


def from_bundle(info: Info, bundle: str) -> None:
    """An OCI bundle: config.json (annotations, root.path)."""
    spec = read_json(os.path.join(bundle, "config.json"))
    if not isinstance(spec, dict):
        return
    ann = spec.get("annotations")
    if isinstance(ann, dict):
        from_annotations(info, ann)
    root = (spec.get("root") or {}).get("path")
    if isinstance(root, str) and info.rootfs is None:
        info.rootfs = root if root.startswith("/") else os.path.join(bundle, root)


# --- runc / crun state dirs -----------------------------------------------------

def oci_states(ctx: Context) -> list[tuple[Info, int | None]]:
    """Containers started with plain runc/crun: (info, start time of the init).

    runc: <root>/<id>/state.json with init_process_pid/_start and config.rootfs
    (runc libcontainer/container_linux.go saveState); crun: <root>/<id>/status
    with pid, process-start-time, rootfs (crun src/libcrun/status.c).
    """
    out: list[tuple[Info, int | None]] = []
    for runtime, roots, fname in (("runc", ctx.paths.runc, "state.json"),
                                  ("crun", ctx.paths.crun, "status")):
        for root in roots:
            try:
                ids = sorted(os.listdir(root))
            except OSError:
                continue
            for cid in ids:
                st = read_json(os.path.join(root, cid, fname))
                if not isinstance(st, dict):
                    continue
                if runtime == "runc":
                    pid, start = st.get("init_process_pid"), st.get("init_process_start")
                    rootfs = (st.get("config") or {}).get("rootfs")
                else:
                    pid, start = st.get("pid"), st.get("process-start-time")
                    rootfs = st.get("rootfs")
                if not isinstance(pid, int):
                    continue
                out.append((Info(runtime=runtime, id=cid, name=cid, rootfs=rootfs, pid=pid),
                            start if isinstance(start, int) else None))
    return out



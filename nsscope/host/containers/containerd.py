"""containerd: the shim a container's init runs under, and the task bundle (its
config and annotations); dockerd's managed containerd too.
"""

from __future__ import annotations

import os

from nsscope.host.containers.files import basename, option, read_text, readlink
from nsscope.host.containers.info import Info
from nsscope.host.containers.oci import from_bundle
from nsscope.host.containers.state_paths import Context


def shim_of(ctx: Context, pid: int) -> tuple[str, str, str] | None:
    """(namespace, shim id, bundle dir) if ``pid``'s parent is a containerd shim.

    containerd-shim-runc-v2 runs as ``-namespace NS -id ID -address …`` with its
    bundle (<state>/io.containerd.runtime.v2.task/<ns>/<id>, runtime/v2/bundle.go)
    as working directory (runtime/v2/shim/util.go Command: cmd.Dir = bundle).
    """
    p = ctx.snap.processes.get(pid)
    parent = ctx.snap.processes.get(p.ppid) if p else None
    if parent is None or not parent.cmdline:
        return None
    if not basename(parent.cmdline[0]).startswith("containerd-shim"):
        return None
    ns = option(parent.cmdline, "-namespace", "--namespace")
    sid = option(parent.cmdline, "-id", "--id")
    cwd = readlink(f"{ctx.proc}/{parent.pid}/cwd")
    if ns is None or sid is None:
        return None
    return ns, sid, ctx.paths.host(cwd) if cwd else ""


def from_containerd(ctx: Context, info: Info, shim: tuple[str, str, str] | None) -> None:
    """The task bundle: <state>/io.containerd.runtime.v2.task/<ns>/<id>/ (config.json,
    init.pid; containerd runtime/v2/bundle.go, runtime/v2/runc/container.go)."""
    candidates = []
    if shim and shim[2]:
        # one shim per pod for CRI: its cwd is the sandbox's bundle, siblings are
        # the pod's containers
        candidates.append(os.path.join(os.path.dirname(shim[2]), info.id))
    for state in ctx.paths.containerd:
        base = os.path.join(state, "io.containerd.runtime.v2.task")
        try:
            candidates.extend(os.path.join(base, ns, info.id) for ns in sorted(os.listdir(base)))
        except OSError:
            continue
    for bundle in candidates:
        if os.path.isfile(os.path.join(bundle, "config.json")):
            from_bundle(info, bundle)
            pid = (read_text(os.path.join(bundle, "init.pid")) or "").strip()
            if pid.isdigit():
                info.pid = int(pid)
            return



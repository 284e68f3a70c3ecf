"""lxc: the container's rootfs from <lxcpath>/<name>/config."""

from __future__ import annotations

import os

from nsscope.host.containers.files import read_text
from nsscope.host.containers.info import Info
from nsscope.host.containers.state_paths import Context


def from_lxc(ctx: Context, info: Info) -> None:
    """<lxcpath>/<name>/config: lxc.rootfs.path (lxc.container.conf(5))."""
    for lxcpath in ctx.lxc_paths:
        text = read_text(os.path.join(lxcpath, info.id, "config"))
        if text is None:
            continue
        for line in text.splitlines():
            key, _, value = line.partition("=")
            if key.strip() in ("lxc.rootfs.path", "lxc.rootfs"):
                value = value.strip()
                # "dir:/path" or "overlayfs:lower:upper": the storage type prefix
                info.rootfs = value.split(":", 1)[1] if value.startswith("dir:") else value
        return



"""The mount table as the kernel shows it (proc(5), /proc/PID/mountinfo), and the
cgroup hierarchies in it.

Deliberately light (os only): ``nsscope enter`` and ``nsscope run`` read it on
their way to a command; ``nsscope.host.cgroups`` and ``nsscope.actions.run.cgroup`` make
their own records of what it returns.
"""

from __future__ import annotations

import os

from nsscope.kernel.abi import CGROUP_ROOT, PROC

#: cgroup v1 super options that are not controllers (cgroups(7), cgroup-v2.rst;
#: name=… is a named hierarchy, release_agent=… a path)
V1_NON_CONTROLLER_OPTS = frozenset({
    "rw", "ro", "relatime", "noatime", "nosuid", "nodev", "noexec", "xattr",
    "clone_children", "noprefix", "cpuset_v2_mode", "nsdelegate", "memory_recursiveprot",
    "memory_localevents", "favordynmods"})


def unescape(field: str) -> str:
    """mountinfo escapes space, tab, newline and backslash as octal (\\040 …)."""
    if "\\" not in field:
        return field
    out, i = [], 0
    while i < len(field):
        if field[i] == "\\" and i + 3 < len(field) and field[i + 1:i + 4].isdigit():
            out.append(chr(int(field[i + 1:i + 4], 8)))
            i += 4
        else:
            out.append(field[i])
            i += 1
    return "".join(out)


def cgroup_mounts(proc: str = PROC) -> list[tuple[str, str, str, str]]:
    """(fstype, mountpoint, root, super options) of the cgroup mounts we see.

    From mountinfo; a captured tree may hold only ``mounts`` (the capturing
    process's view; root is then "/").
    """
    out = []
    try:
        with open(f"{proc}/self/mountinfo", "rb") as f:
            text = f.read().decode("utf-8", "replace")
    except OSError:
        text = None
    if text is not None:
        for line in text.splitlines():
            left, _, right = line.partition(" - ")
            r = right.split(" ")
            if len(r) < 3 or r[0] not in ("cgroup", "cgroup2"):
                continue
            fields = left.split(" ")
            out.append((r[0], unescape(fields[4]), unescape(fields[3]), r[2]))
        return out
    try:
        with open(f"{proc}/mounts", "rb") as f:
            text = f.read().decode("utf-8", "replace")
    except OSError:
        return out
    for line in text.splitlines():
        fields = line.split(" ")
        if len(fields) >= 4 and fields[2] in ("cgroup", "cgroup2"):
            out.append((fields[2], unescape(fields[1]), "/", fields[3]))
    return out


def cgroup_hierarchies(cgroup_root: str = CGROUP_ROOT, proc: str = PROC,
                       ) -> list[tuple[str, int, tuple[str, ...], str, str]]:
    """(key, version, controllers, mountpoint, root) of each hierarchy mounted under
    /sys/fs/cgroup, once (a hierarchy bind-mounted twice is the first mount).

    key is what /proc/PID/cgroup names it by ("cpu,cpuacct", "name=systemd", ""
    for v2); mountpoints are re-rooted at ``cgroup_root``, so a captured tree
    (cgroup_root=fixture/sys/fs/cgroup) maps the same way as the live one; root is
    the mount's root within the hierarchy (mountinfo field 4), usually "/".
    """
    out = []
    seen: set[str] = set()
    for fstype, point, root, opts in cgroup_mounts(proc):
        if point != CGROUP_ROOT and not point.startswith(CGROUP_ROOT + "/"):
            continue
        where = cgroup_root + point[len(CGROUP_ROOT):]
        if fstype == "cgroup2":
            try:
                with open(os.path.join(where, "cgroup.controllers")) as f:
                    controllers = tuple(f.read().split())
            except OSError:
                controllers = ()
            key, version = "", 2
        else:
            parts = [o for o in opts.split(",") if o not in V1_NON_CONTROLLER_OPTS
                     and not o.startswith("release_agent=")]
            controllers = tuple(o for o in parts if "=" not in o)
            # /proc/PID/cgroup lists a hierarchy's controllers in the kernel's
            # subsystem order, then name=; the mount options list them the same way
            key = ",".join(controllers + tuple(o for o in parts if o.startswith("name=")))
            version = 1
        if key in seen:
            continue
        seen.add(key)
        out.append((key, version, controllers, where, root))
    return out

"""What the container's PID 1 mounts, in its new mount namespace, before it runs CMD.

Order (runc's libcontainer/rootfs_linux.go, and the issue's rules):

1. ``/`` private, recursively: nothing mounted here propagates to the host
   (mount_namespaces(7)); every mount below lives and dies with this namespace.
2. the root: an overlay of the image with a per-container upper layer, or the
   directory bound on itself (``pivot_root`` needs a mount point);
3. a fresh ``/proc`` (mounted by PID 1, so it shows the new pid namespace,
   and before the old root goes: with a user namespace the kernel only allows
   a new proc where one is already fully visible, ``mount_too_revealing``);
4. a minimal ``/dev`` (tmpfs, bind mounts of the host's null zero full random
   urandom tty, devpts with its own ptmx, shm, mqueue);
5. ``/sys`` read-only (a new sysfs when the net namespace is new, else the
   host's, bound) and the container's cgroups read-only in ``/sys/fs/cgroup``;
6. volumes, then runc's masked and read-only paths;
7. ``pivot_root(".", ".")`` then detach the old root (pivot_root(2), "NOTES").

Device nodes: the container keeps CAP_MKNOD (docker's default set). On a v1
host the devices cgroup decides what it may open (cgroup.py, runc's rules); a
v2 host has no devices file (runc loads an eBPF program there, nsscope does
not), so there, unless ``--privileged``, the root, the /dev tmpfs and the
volumes are ``nodev`` (``rt["nodev"]``): a node made on them cannot be opened.
The nodes the container needs are bind mounts of the host's, which keep the
flags of the host's /dev. With ``--privileged``: no masked or read-only paths,
/sys and its cgroups writable (docker's --privileged).

This module runs in PID 1, after ``pivot_root`` too: it imports nothing beyond
``syscalls``.
"""

from __future__ import annotations

import errno
import os
import stat

from nsscope.kernel import syscalls as sc

#: runc's defaults (runc spec, config.json linux.maskedPaths / readonlyPaths)
MASKED_PATHS = ("/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys",
                "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats",
                "/proc/sched_debug", "/proc/scsi", "/sys/firmware")
READONLY_PATHS = ("/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger")
DEV_NODES = ("null", "zero", "full", "random", "urandom", "tty")
DEV_LINKS = (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"),
             ("stdout", "/proc/self/fd/1"), ("stderr", "/proc/self/fd/2"), ("ptmx", "pts/ptmx"))

_NO_SUID_DEV_EXEC = sc.MS_NOSUID | sc.MS_NODEV | sc.MS_NOEXEC
# statvfs f_flag (ST_*) -> the mount flag a read-only remount must keep: in a user
# namespace the kernel refuses to clear a flag the mount was locked with (mount(2), EPERM)
_KEEP_FLAGS = ((os.ST_NOSUID, sc.MS_NOSUID), (os.ST_NODEV, sc.MS_NODEV),
               (os.ST_NOEXEC, sc.MS_NOEXEC), (os.ST_NOATIME, sc.MS_NOATIME),
               (os.ST_NODIRATIME, sc.MS_NODIRATIME), (os.ST_RELATIME, sc.MS_RELATIME))


def secure_join(root: str, path: str) -> str:
    """``root/path`` with symlinks resolved as if ``root`` were ``/`` (runc's
    securejoin): a link in the image can never point a mount outside the root."""
    parts = [p for p in path.split("/") if p and p != "."]
    done: list[str] = []
    links = 0
    while parts:
        part = parts.pop(0)
        if part == "..":
            if done:
                done.pop()
            continue
        candidate = os.path.join(root, *done, part)
        try:
            st = os.lstat(candidate)
        except FileNotFoundError:
            done.append(part)
            continue
        if stat.S_ISLNK(st.st_mode):
            links += 1
            if links > 40:
                raise OSError(errno.ELOOP, f"too many symlinks under {path}", path)
            target = os.readlink(candidate)
            if target.startswith("/"):
                done = []
            parts = [p for p in target.split("/") if p and p != "."] + parts
            continue
        done.append(part)
    return os.path.join(root, *done)


def _mkdir_in(root: str, path: str) -> str:
    target = secure_join(root, path)
    os.makedirs(target, mode=0o755, exist_ok=True)
    return target


def _touch_in(root: str, path: str) -> str:
    target = secure_join(root, path)
    os.makedirs(os.path.dirname(target), mode=0o755, exist_ok=True)
    if not os.path.lexists(target):
        os.close(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o644))
    return target


def remount(path: str, add: int) -> None:
    """Add the mount flags ``add`` (MS_RDONLY, MS_NODEV) to the mount at ``path``,
    keeping its others."""
    flags = os.statvfs(path).f_flag
    keep = 0
    for st_flag, ms_flag in _KEEP_FLAGS:
        if flags & st_flag:
            keep |= ms_flag
    sc.mount(None, path, None, sc.MS_BIND | sc.MS_REMOUNT | add | keep)


def remount_ro(path: str) -> None:
    remount(path, sc.MS_RDONLY)


def bind(src: str, dst: str, read_only: bool = False, recursive: bool = True,
         nodev: bool = False) -> None:
    """A bind mount of ``src`` at ``dst``; the flags apply to its top mount (a
    recursive bind's submounts keep theirs)."""
    sc.mount(src, dst, None, sc.MS_BIND | (sc.MS_REC if recursive else 0))
    if read_only or nodev:
        remount(dst, (sc.MS_RDONLY if read_only else 0) | (sc.MS_NODEV if nodev else 0))


def make_private() -> None:
    sc.mount(None, "/", None, sc.MS_REC | sc.MS_PRIVATE)


def setup_host_root(spec: dict) -> None:
    """No rootfs option: the host's / in a private mount namespace, with a fresh /proc
    (``unshare --mount-proc``) and the volumes."""
    make_private()
    if "pid" in spec["namespaces"]:
        sc.mount("proc", "/proc", "proc", _NO_SUID_DEV_EXEC)
    for v in spec["volumes"]:
        if not os.path.exists(v["container"]):
            raise OSError(errno.ENOENT, f"-v: {v['container']} does not exist on the host's "
                                        "root (no --rootfs: volumes go over existing paths)")
        bind(v["host"], v["container"], v["read_only"])


def mount_root(spec: dict, rt: dict, userns: bool) -> None:
    """The container's / at ``rt["layers"]["rootfs"]``: an overlay (or a bind of the dir)."""
    root, lower = rt["layers"]["rootfs"], rt["lower"]
    nodev = rt["nodev"]
    if not spec["cow"]:
        bind(lower, root, nodev=nodev)
        return
    opts = f"lowerdir={lower},upperdir={rt['layers']['upper']},workdir={rt['layers']['work']}"
    if userns:
        # trusted.* xattrs need CAP_SYS_ADMIN in the initial user namespace; an
        # overlay mounted in a user namespace keeps its own in user.*
        # (Documentation/filesystems/overlayfs.rst, "userxattr")
        opts += ",userxattr"
    try:
        sc.mount("overlay", root, "overlay", sc.MS_NODEV if nodev else 0, opts)
    except OSError as e:
        if e.errno == errno.ENODEV:  # the kernel knows no filesystem of that name
            raise OSError(e.errno, "overlayfs is not available in this kernel (modprobe "
                                   "overlay; or --no-cow with --rootfs)") from None
        raise


def mount_volumes(root: str, volumes: list[dict], nodev: bool) -> None:
    """-v HOST:CTR[:ro]: a recursive bind (read-only with :ro) of HOST at CTR, the target
    created in the upper layer if the image lacks it."""
    for v in volumes:
        src = v["host"]
        dst = _mkdir_in(root, v["container"]) if os.path.isdir(src) else _touch_in(
            root, v["container"])
        bind(src, dst, v["read_only"], nodev=nodev)


def setup_rootfs(spec: dict, rt: dict) -> None:
    """Everything from a private / to ``pivot_root`` (see the module doc)."""
    root = rt["layers"]["rootfs"]
    make_private()
    if rt["premount"]:
        # the helper mounted the root (and the volumes) before entering the user
        # namespace: here those mounts are locked to their parents
        # (mount_namespaces(7)) and pivot_root refuses a locked new root; a
        # recursive bind of it on itself is not locked
        bind(root, root, nodev=rt["nodev"])
    else:
        mount_root(spec, rt, userns="user" in spec["namespaces"])

    sc.mount("proc", _mkdir_in(root, "/proc"), "proc", _NO_SUID_DEV_EXEC)
    _mount_dev(root, spec, rt)
    _mount_sys(root, spec, rt)
    if not rt["premount"]:
        mount_volumes(root, spec["volumes"], nodev=rt["nodev"])
    for path in () if spec["privileged"] else MASKED_PATHS:
        target = root + path  # fresh proc and sysfs: no symlinks on these paths
        if not os.path.lexists(target):
            continue
        if os.path.isdir(target):
            sc.mount("tmpfs", target, "tmpfs", sc.MS_RDONLY)
        else:
            bind(root + "/dev/null", target, recursive=False)
    for path in () if spec["privileged"] else READONLY_PATHS:
        target = root + path
        if os.path.lexists(target):
            bind(target, target, read_only=True)

    os.chdir(root)
    sc.pivot_root(".", ".")
    # the old root is now stacked under the new one at "/": detach it
    sc.umount2(".", sc.MNT_DETACH)
    os.chdir("/")


def _mount_dev(root: str, spec: dict, rt: dict) -> None:
    dev = _mkdir_in(root, "/dev")
    sc.mount("tmpfs", dev, "tmpfs", sc.MS_NOSUID | sc.MS_STRICTATIME
             | (sc.MS_NODEV if rt["nodev"] else 0), "mode=755,size=65536k")
    # bind mounts work in a user namespace too, where mknod does not
    for name in DEV_NODES:
        target = os.path.join(dev, name)
        os.close(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o666))
        bind(f"/dev/{name}", target, recursive=False)
    pts = os.path.join(dev, "pts")
    os.mkdir(pts, 0o755)
    opts = "newinstance,ptmxmode=0666,mode=0620"
    if rt.get("tty_gid_mapped", True):
        opts += ",gid=5"  # tty, as runc and docker
    sc.mount("devpts", pts, "devpts", sc.MS_NOSUID | sc.MS_NOEXEC, opts)
    shm = os.path.join(dev, "shm")
    os.mkdir(shm, 0o1777)
    sc.mount("shm", shm, "tmpfs", _NO_SUID_DEV_EXEC, "mode=1777,size=65536k")
    if "ipc" in spec["namespaces"]:
        mq = os.path.join(dev, "mqueue")
        os.mkdir(mq, 0o755)
        sc.mount("mqueue", mq, "mqueue", _NO_SUID_DEV_EXEC)
    for name, target in DEV_LINKS:
        os.symlink(target, os.path.join(dev, name))
    if spec["tty"]:
        console = os.path.join(dev, "console")
        os.close(os.open(console, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o600))
        bind(os.ttyname(0), console, recursive=False)


def _mount_sys(root: str, spec: dict, rt: dict) -> None:
    new = spec["namespaces"]
    sysdir = _mkdir_in(root, "/sys")
    ro = 0 if spec["privileged"] else sc.MS_RDONLY
    if "net" in new:
        # a sysfs shows the net namespace of its mounter (and needs it owned by
        # our user namespace, sysfs_get_tree): only with a new one
        sc.mount("sysfs", sysdir, "sysfs", ro | _NO_SUID_DEV_EXEC)
    else:
        bind("/sys", sysdir, read_only=bool(ro))
        return
    if "cgroup" not in new or not rt["cgroup_mounts"]:
        return
    cg = os.path.join(sysdir, "fs", "cgroup")
    flags = ro | _NO_SUID_DEV_EXEC
    mounts = rt["cgroup_mounts"]
    if len(mounts) == 1 and mounts[0][1] == "cgroup2":
        # cgroup v2 only: the namespace's root is the container's cgroup
        sc.mount("cgroup2", cg, "cgroup2", flags)
        return
    sc.mount("tmpfs", cg, "tmpfs", _NO_SUID_DEV_EXEC, "mode=755")
    for name, fstype, options in mounts:
        target = os.path.join(cg, name)
        os.mkdir(target, 0o755)
        sc.mount(fstype, target, fstype, flags, options or None)
    if ro:
        remount_ro(cg)

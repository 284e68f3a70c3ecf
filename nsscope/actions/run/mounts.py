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
6. volumes;
7. ``pivot_root(".", ".")`` then detach the old root (pivot_root(2), "NOTES");
8. runc's masked and read-only paths, after the pivot, each opened inside the
   container's root without following a symlink and checked to be on the
   procfs or sysfs just mounted before anything is mounted over it.

A root is hostile input (docs/security.md). Its ``/proc`` and ``/sys`` must be
real directories: a symlink there is refused (runc's rule since
CVE-2019-19921: a /proc mounted through a symlink escaped every mask, and the
container wrote the host's kernel.core_pattern). Mount targets inside the root
(proc, sys, volumes) are opened with openat2(RESOLVE_IN_ROOT |
RESOLVE_NO_MAGICLINKS) and mounted on through /proc/self/fd/N, so a symlink
swapped in between never points a mount outside (runc's fix of
CVE-2021-30465, libcontainer/utils WithProcfd).

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


_O_PATH_DIR = os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC
_IN_ROOT = sc.RESOLVE_IN_ROOT | sc.RESOLVE_NO_MAGICLINKS


def open_in_root(root_fd: int, path: str, flags: int = os.O_PATH,
                 resolve: int = _IN_ROOT) -> int:
    """``path`` opened inside the directory ``root_fd`` as if it were "/": no
    symlink or ".." leads out, no /proc magic link is followed (openat2(2)).
    Before Linux 5.6 (no openat2): each component through an O_PATH fd, symlinks
    read as text and resolved again inside the root (runc's securejoin)."""
    rel = path.lstrip("/") or "."
    try:
        return sc.openat2(root_fd, rel, flags | os.O_CLOEXEC, resolve)
    except OSError as e:
        if e.errno != errno.ENOSYS:
            raise
    if resolve & sc.RESOLVE_NO_SYMLINKS:
        flags |= os.O_NOFOLLOW
    root = sc.fd_path(root_fd)
    joined = secure_join(root, path)
    fd = os.open(joined, flags | os.O_NOFOLLOW | os.O_CLOEXEC)
    real = os.readlink(sc.fd_path(fd))
    base = os.readlink(root)
    if real != base and not real.startswith(base.rstrip("/") + "/"):
        os.close(fd)
        raise OSError(errno.EXDEV, f"{path} resolves outside the container's root", path)
    return fd


def mkdirs_in_root(root_fd: int, path: str, mode: int = 0o755) -> int:
    """``path`` inside the root (``open_in_root``), its missing directories created
    there; an O_PATH fd on it."""
    try:
        return open_in_root(root_fd, path, _O_PATH_DIR)
    except FileNotFoundError:
        pass
    parent, _, name = path.rstrip("/").rpartition("/")
    pfd = mkdirs_in_root(root_fd, parent or "/", mode)
    try:
        try:
            os.mkdir(name, mode, dir_fd=pfd)
        except FileExistsError:
            pass  # made meanwhile, or a symlink: open_in_root resolves it inside
        return open_in_root(root_fd, path, _O_PATH_DIR)
    finally:
        os.close(pfd)


def touch_in_root(root_fd: int, path: str) -> int:
    """A file at ``path`` inside the root (created, with its directories, if missing);
    an O_PATH fd on it."""
    try:
        return open_in_root(root_fd, path)
    except FileNotFoundError:
        pass
    parent, _, name = path.rstrip("/").rpartition("/")
    pfd = mkdirs_in_root(root_fd, parent or "/")
    try:
        # O_NOFOLLOW|O_EXCL: a dangling symlink planted there is not followed
        fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                     0o644, dir_fd=pfd)
        os.close(fd)
    except FileExistsError:
        pass
    finally:
        os.close(pfd)
    return open_in_root(root_fd, path)


def check_mountpoint_dir(root: str, name: str) -> None:
    """/proc and /sys of a root must be real directories (or absent, then made):
    a symlink would carry the mount, and every mask under it, elsewhere
    (CVE-2019-19921; runc's mountToRootfs refuses "filesystem %q must be mounted
    on ordinary directory")."""
    try:
        st = os.lstat(os.path.join(root, name))
    except FileNotFoundError:
        return
    if not stat.S_ISDIR(st.st_mode):
        what = "a symlink" if stat.S_ISLNK(st.st_mode) else "not a directory"
        raise OSError(errno.ENOTDIR, f"the container's /{name} is {what}: refusing the "
                                     f"root (/{name} must be a real directory, "
                                     "CVE-2019-19921)")


def _mkdir_in(root: str, path: str) -> str:
    target = secure_join(root, path)
    os.makedirs(target, mode=0o755, exist_ok=True)
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
    created in the upper layer if the image lacks it. CTR is opened inside the root
    and the bind made on that fd (``open_in_root``: CVE-2021-30465)."""
    root_fd = os.open(root, _O_PATH_DIR)
    try:
        for v in volumes:
            src, ctr = v["host"], v["container"]
            want_dir = os.path.isdir(src)
            try:
                fd = mkdirs_in_root(root_fd, ctr) if want_dir else touch_in_root(root_fd, ctr)
            except OSError as e:
                kind = "a directory" if want_dir else "a file"
                raise OSError(e.errno, f"-v {src}:{ctr}: cannot make {ctr} {kind} in the "
                                       f"container: {e.strerror}") from None
            try:
                if stat.S_ISDIR(os.fstat(fd).st_mode) != want_dir:
                    raise OSError(errno.ENOTDIR if want_dir else errno.EISDIR,
                                  f"-v {src}:{ctr}: {ctr} in the container is "
                                  f"{'not ' if want_dir else ''}a directory, {src} is "
                                  f"{'' if want_dir else 'not '}one")
                bind_fd(src, fd, root_fd, ctr, v["read_only"], nodev=nodev)
            finally:
                os.close(fd)
    finally:
        os.close(root_fd)


def bind_fd(src: str, fd: int, root_fd: int, path: str, read_only: bool = False,
            nodev: bool = False, recursive: bool = True) -> None:
    """A bind of ``src`` on what ``fd`` holds (``path`` inside ``root_fd``); the flags
    are then set on the new mount, reopened: the old fd still names the one below."""
    sc.mount(src, sc.fd_path(fd), None, sc.MS_BIND | (sc.MS_REC if recursive else 0))
    if read_only or nodev:
        top = open_in_root(root_fd, path)
        try:
            remount(sc.fd_path(top), (sc.MS_RDONLY if read_only else 0)
                    | (sc.MS_NODEV if nodev else 0))
            if read_only and not os.statvfs(top).f_flag & os.ST_RDONLY:
                raise OSError(errno.EIO, f"{path}: the read-only remount did not take")
        finally:
            os.close(top)


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

    for name in ("proc", "sys"):
        check_mountpoint_dir(root, name)
    root_fd = os.open(root, _O_PATH_DIR)
    try:
        proc = mkdirs_in_root(root_fd, "/proc")
        try:
            sc.mount("proc", sc.fd_path(proc), "proc", _NO_SUID_DEV_EXEC)
        finally:
            os.close(proc)
    finally:
        os.close(root_fd)
    _mount_dev(root, spec, rt)
    _mount_sys(root, spec, rt)
    if not rt["premount"]:
        mount_volumes(root, spec["volumes"], nodev=rt["nodev"])

    os.chdir(root)
    sc.pivot_root(".", ".")
    # the old root is now stacked under the new one at "/": detach it
    sc.umount2(".", sc.MNT_DETACH)
    os.chdir("/")
    if not spec["privileged"]:
        mask_paths()


#: the filesystem each masked or read-only path must be on
_EXPECTED_FS = {"proc": sc.PROC_SUPER_MAGIC, "sys": sc.SYSFS_MAGIC}


def mask_paths() -> None:
    """runc's masked and read-only paths, in the container's root (after the pivot).

    Each is opened with no symlink followed at all (openat2 RESOLVE_NO_SYMLINKS
    inside the root: a fresh procfs and sysfs have none on these paths) and must be
    on procfs or sysfs, checked on the fd (fstatfs) before mounting over it through
    /proc/self/fd/N: nothing the image planted is masked instead, and no mask is
    skipped because a path resolved elsewhere (CVE-2019-19921)."""
    root_fd = os.open("/", _O_PATH_DIR)
    try:
        for path in MASKED_PATHS:
            fd = _open_procfs_path(root_fd, path)
            if fd is None:
                continue
            try:
                if stat.S_ISDIR(os.fstat(fd).st_mode):
                    sc.mount("tmpfs", sc.fd_path(fd), "tmpfs", sc.MS_RDONLY)
                else:
                    sc.mount("/dev/null", sc.fd_path(fd), None, sc.MS_BIND)
            finally:
                os.close(fd)
        for path in READONLY_PATHS:
            fd = _open_procfs_path(root_fd, path)
            if fd is None:
                continue
            try:
                bind_fd(sc.fd_path(fd), fd, root_fd, path, read_only=True)
            finally:
                os.close(fd)
    finally:
        os.close(root_fd)


def _open_procfs_path(root_fd: int, path: str) -> int | None:
    try:
        fd = open_in_root(root_fd, path, os.O_PATH,
                          sc.RESOLVE_IN_ROOT | sc.RESOLVE_NO_SYMLINKS)
    except FileNotFoundError:
        return None  # this kernel has no such file (/proc/timer_stats …)
    expected = _EXPECTED_FS[path.split("/")[1]]
    try:
        magic = sc.fstatfs_magic(fd)
    except OSError:
        os.close(fd)
        raise
    if magic != expected:
        os.close(fd)
        raise OSError(errno.EXDEV, f"{path} is not on the {path.split('/')[1]} filesystem "
                                   "nsscope mounted: refusing to start the container")
    return fd


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
    root_fd = os.open(root, _O_PATH_DIR)
    try:
        sys_fd = mkdirs_in_root(root_fd, "/sys")
    finally:
        os.close(root_fd)
    try:
        sysdir = sc.fd_path(sys_fd)
        ro = 0 if spec["privileged"] else sc.MS_RDONLY
        try:
            # a sysfs shows the net namespace of its mounter, and needs
            # CAP_SYS_ADMIN in the user namespace owning it (sysfs_get_tree): ours
            # when the net namespace is new, or the host's as host root (docker
            # --net host: runc mounts a fresh sysfs then too). A fresh sysfs has
            # none of the host's submounts (cgroupfs, debugfs, tracefs, bpf …)
            sc.mount("sysfs", sysdir, "sysfs", ro | _NO_SUID_DEV_EXEC)
        except PermissionError:
            if "net" in new:
                raise
            # the host's net namespace from a user namespace: the host's /sys,
            # bound with every submount, all read-only (mount_setattr(2)
            # AT_RECURSIVE; a bind's MS_RDONLY reaches only its top mount)
            sc.mount("/sys", sysdir, None, sc.MS_BIND | sc.MS_REC)
            if ro:
                # by path: the fd names the directory below the new mount
                sc.mount_setattr_recursive_rdonly(os.path.join(root, "sys"))
    finally:
        os.close(sys_fd)
    sysdir = os.path.join(root, "sys")  # a real directory (check_mountpoint_dir), ours now
    if "cgroup" not in new or not rt["cgroup_mounts"]:
        return
    cg = os.path.join(sysdir, "fs", "cgroup")
    flags = (sc.MS_RDONLY if not spec["privileged"] else 0) | _NO_SUID_DEV_EXEC
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
    if flags & sc.MS_RDONLY:
        remount_ro(cg)

"""The system calls Python lacks or hides, in one place.

``os.*`` where the running Python has it (``os.setns``/``os.unshare`` since
3.12, ``os.pidfd_open`` since 3.9), ctypes otherwise. Every return value is
checked and turned into ``OSError`` with errno, so callers handle one kind of
failure.
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import os
import struct

# <linux/sched.h>
CLONE_NEWTIME = 0x00000080
CLONE_NEWNS = 0x00020000
CLONE_NEWCGROUP = 0x02000000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000

#: namespace type (as in /proc/PID/ns) -> CLONE_NEW* flag
CLONE_FLAGS: dict[str, int] = {
    "cgroup": CLONE_NEWCGROUP,
    "ipc": CLONE_NEWIPC,
    "mnt": CLONE_NEWNS,
    "net": CLONE_NEWNET,
    "pid": CLONE_NEWPID,
    "time": CLONE_NEWTIME,
    "user": CLONE_NEWUSER,
    "uts": CLONE_NEWUTS,
}

# <linux/nsfs.h>: _IO(0xb7, n)
NSIO = 0xB7
NS_GET_USERNS = (NSIO << 8) | 0x1
NS_GET_PARENT = (NSIO << 8) | 0x2
NS_GET_NSTYPE = (NSIO << 8) | 0x3
NS_GET_OWNER_UID = (NSIO << 8) | 0x4

# <linux/magic.h>
CGROUP_SUPER_MAGIC = 0x27E0EB
CGROUP2_SUPER_MAGIC = 0x63677270
TMPFS_MAGIC = 0x01021994
NSFS_MAGIC = 0x6E736673

_SYS_pidfd_open = 434  # same number on every architecture (since 5.3)
_SYS_pidfd_send_signal = 424

# dlopen(NULL): the C library the interpreter is already linked with. Asking
# ctypes.util.find_library("c") would run `ldconfig -p` in a subprocess at every
# import (~15 ms, and the subprocess module with it): too slow for `nsscope enter`.
_libc = ctypes.CDLL(None, use_errno=True)


def _check(ret: int, what: str) -> int:
    if ret == -1:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")
    return ret


def setns(fd: int, nstype: int = 0) -> None:
    """Join the namespace(s) behind ``fd`` (an nsfs file or, since 5.8, a pidfd)."""
    if hasattr(os, "setns"):
        os.setns(fd, nstype)
        return
    _check(_libc.setns(ctypes.c_int(fd), ctypes.c_int(nstype)), "setns")


def unshare(flags: int) -> None:
    if hasattr(os, "unshare"):
        os.unshare(flags)
        return
    _check(_libc.unshare(ctypes.c_int(flags)), "unshare")


def pidfd_open(pid: int, flags: int = 0) -> int:
    if hasattr(os, "pidfd_open"):
        return os.pidfd_open(pid, flags)
    return _check(_libc.syscall(_SYS_pidfd_open, ctypes.c_int(pid), ctypes.c_uint(flags)),
                  "pidfd_open")


def pidfd_send_signal(pidfd: int, sig: int) -> None:
    if hasattr(os, "pidfd_send_signal"):  # not in CPython, but harmless
        os.pidfd_send_signal(pidfd, sig)  # type: ignore[attr-defined]
        return
    _check(_libc.syscall(_SYS_pidfd_send_signal, ctypes.c_int(pidfd), ctypes.c_int(sig),
                         None, ctypes.c_uint(0)), "pidfd_send_signal")


def ns_get_userns(fd: int) -> int:
    """A new fd for the user namespace owning the namespace ``fd`` refers to."""
    return fcntl.ioctl(fd, NS_GET_USERNS)


def ns_get_parent(fd: int) -> int:
    """A new fd for the parent of a pid or user namespace (EPERM at the top)."""
    return fcntl.ioctl(fd, NS_GET_PARENT)


def ns_get_owner_uid(fd: int) -> int:
    """The uid (in the caller's user namespace) that created user namespace ``fd``."""
    buf = bytearray(4)
    fcntl.ioctl(fd, NS_GET_OWNER_UID, buf, True)
    return struct.unpack("I", buf)[0]


def ns_get_nstype(fd: int) -> int:
    return fcntl.ioctl(fd, NS_GET_NSTYPE)


class _Statfs(ctypes.Structure):
    # struct statfs on 64-bit Linux; only f_type is used
    _fields_ = [("f_type", ctypes.c_long), ("_rest", ctypes.c_byte * 112)]


def statfs_magic(path: str) -> int:
    """The filesystem magic (``f_type``) of ``path``."""
    buf = _Statfs()
    if _libc.statfs(os.fsencode(path), ctypes.byref(buf)) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err), path)
    return buf.f_type & 0xFFFFFFFF


def is_missing(exc: OSError) -> bool:
    """True for the errnos that mean 'the process or file went away'."""
    return exc.errno in (errno.ENOENT, errno.ESRCH)


# --- mounts, pivot_root, prctl (nsscope run) ----------------------------------
# <linux/mount.h> (the MS_* flags of mount(2))
MS_RDONLY = 0x1
MS_NOSUID = 0x2
MS_NODEV = 0x4
MS_NOEXEC = 0x8
MS_REMOUNT = 0x20
MS_NOATIME = 0x400
MS_NODIRATIME = 0x800
MS_BIND = 0x1000
MS_MOVE = 0x2000
MS_REC = 0x4000
MS_PRIVATE = 0x40000
MS_SLAVE = 0x80000
MS_RELATIME = 0x200000
MS_STRICTATIME = 0x1000000
# umount2(2)
MNT_DETACH = 0x2
# <linux/prctl.h>
PR_SET_PDEATHSIG = 1
PR_SET_NAME = 15
PR_SET_CHILD_SUBREAPER = 36

# glibc has no pivot_root() wrapper (pivot_root(2)): the raw syscall number per architecture
_SYS_pivot_root = {"x86_64": 155, "aarch64": 41, "riscv64": 41, "ppc64le": 203,
                   "s390x": 217, "i686": 217, "armv7l": 218}


def mount(source: str | None, target: str, fstype: str | None, flags: int = 0,
          data: str | None = None) -> None:
    """mount(2); OSError names the target (EINVAL, EPERM … are the caller's to explain)."""
    def enc(s: str | None) -> bytes | None:
        return None if s is None else os.fsencode(s)
    if _libc.mount(enc(source), enc(target), enc(fstype), ctypes.c_ulong(flags),
                   enc(data)) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"mount {fstype or 'bind'} on {target}: {os.strerror(err)}", target)


def umount2(target: str, flags: int = 0) -> None:
    if _libc.umount2(os.fsencode(target), ctypes.c_int(flags)) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"umount {target}: {os.strerror(err)}", target)


def pivot_root(new_root: str, put_old: str) -> None:
    machine = os.uname().machine
    nr = _SYS_pivot_root.get(machine)
    if nr is None:
        raise OSError(errno.ENOSYS, f"pivot_root: unknown syscall number on {machine}")
    if _libc.syscall(ctypes.c_long(nr), os.fsencode(new_root), os.fsencode(put_old)) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"pivot_root {new_root}: {os.strerror(err)}", new_root)


def prctl(option: int, arg2: int | bytes = 0) -> None:
    if _libc.prctl(ctypes.c_int(option),
                   arg2 if isinstance(arg2, bytes) else ctypes.c_ulong(arg2),
                   ctypes.c_ulong(0), ctypes.c_ulong(0), ctypes.c_ulong(0)) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"prctl({option}): {os.strerror(err)}")


# --- capabilities, no_new_privs, pidfd setns (nsscope enter) ------------------
# <linux/prctl.h>
PR_CAPBSET_DROP = 24
PR_SET_NO_NEW_PRIVS = 38
PR_CAP_AMBIENT = 47
PR_CAP_AMBIENT_CLEAR_ALL = 4
# <uapi/linux/capability.h>
CAP_SYS_ADMIN = 21


def capbset_drop(cap: int) -> None:
    """Remove ``cap`` from the bounding set (needs CAP_SETPCAP; capabilities(7))."""
    prctl(PR_CAPBSET_DROP, cap)


def set_no_new_privs() -> None:
    """PR_SET_NO_NEW_PRIVS: execve never grants privileges again (one way, inherited)."""
    prctl(PR_SET_NO_NEW_PRIVS, 1)


def cap_ambient_clear_all() -> None:
    prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL)


def cap_last_cap(proc: str = "/proc") -> int:
    """The highest capability number this kernel knows (CAP_LAST_CAP)."""
    fd = os.open(f"{proc}/sys/kernel/cap_last_cap", os.O_RDONLY | os.O_CLOEXEC)
    try:
        return int(os.read(fd, 32))
    finally:
        os.close(fd)


def setns_takes_pidfd() -> bool:
    """setns(pidfd, CLONE_NEW*…) joins several namespaces at once since Linux 5.8 (setns(2))."""
    release = os.uname().release
    try:
        major, minor = (int(x) for x in release.split("-")[0].split(".")[:2])
    except ValueError:
        return False
    return (major, minor) >= (5, 8)


def sethostname(name: str) -> None:
    """sethostname(2) without importing socket (the container helper stays lean)."""
    raw = name.encode()
    if _libc.sethostname(raw, ctypes.c_size_t(len(raw))) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"sethostname: {os.strerror(err)}")


PR_SET_DUMPABLE = 4


def set_dumpable(dumpable: bool) -> None:
    """PR_SET_DUMPABLE: a process that is not dumpable leaves no core file (core(5))."""
    prctl(PR_SET_DUMPABLE, int(dumpable))


# --- capability sets, a socket fd, thread count (nsscope run) -----------------
#: capability names by number (<uapi/linux/capability.h>); the running kernel
#: knows those up to cap_last_cap()
CAP_NAMES = (
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID",
    "CAP_KILL", "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW",
    "CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE", "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE",
    "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ",
    "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE",
)
# <uapi/linux/capability.h>: version 3 takes two 32-bit words per set
_LINUX_CAPABILITY_VERSION_3 = 0x20080522


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32),
                ("inheritable", ctypes.c_uint32)]


def capset(effective: int, permitted: int, inheritable: int = 0) -> None:
    """capset(2) on the calling thread; each set a mask, bit N = capability N.

    A set can only shrink (permitted) or stay within permitted (effective,
    inheritable without CAP_SETPCAP): EPERM otherwise (capabilities(7))."""
    header = _CapHeader(_LINUX_CAPABILITY_VERSION_3, 0)
    data = (_CapData * 2)()
    for i in (0, 1):
        shift = 32 * i
        data[i].effective = (effective >> shift) & 0xFFFFFFFF
        data[i].permitted = (permitted >> shift) & 0xFFFFFFFF
        data[i].inheritable = (inheritable >> shift) & 0xFFFFFFFF
    _check(_libc.capset(ctypes.byref(header), data), "capset")


def capget() -> tuple[int, int, int]:
    """(effective, permitted, inheritable) of the calling thread, as masks."""
    header = _CapHeader(_LINUX_CAPABILITY_VERSION_3, 0)
    data = (_CapData * 2)()
    _check(_libc.capget(ctypes.byref(header), data), "capget")
    def mask(name: str) -> int:
        return getattr(data[0], name) | (getattr(data[1], name) << 32)
    return mask("effective"), mask("permitted"), mask("inheritable")


def socket_fd(family: int, kind: int, protocol: int = 0) -> int:
    """socket(2) as a bare, close-on-exec fd, for an ioctl or two without importing
    the socket module (~4 ms: the container's helper starts on every run)."""
    sock_cloexec = 0o2000000  # SOCK_CLOEXEC = O_CLOEXEC (socket(2))
    return _check(_libc.socket(ctypes.c_int(family), ctypes.c_int(kind | sock_cloexec),
                               ctypes.c_int(protocol)), "socket")


def thread_count(proc: str = "/proc") -> int:
    """Threads of the calling process (the Threads: line of /proc/self/status)."""
    with open(f"{proc}/self/status", "rb") as f:
        for line in f:
            if line.startswith(b"Threads:"):
                return int(line.split()[1])
    raise OSError(errno.ENOENT, "no Threads: line in /proc/self/status")


# The C module behind `signal`: the same functions and constants, without the
# IntEnum wrappers signal.py adds (CPython's signal.py is `from _signal import *`
# plus enums), whose `import enum` would cost every `nsscope run` ~3 ms. It is
# loaded at interpreter start-up in any case (the SIGINT handler).
try:
    import _signal as signals
except ImportError:  # not CPython
    import signal as signals  # type: ignore[no-redef]  # noqa: F401

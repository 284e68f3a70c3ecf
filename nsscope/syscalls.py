"""The system calls Python lacks or hides, in one place.

``os.*`` where the running Python has it (``os.setns``/``os.unshare`` since
3.12, ``os.pidfd_open`` since 3.9), ctypes otherwise. Every return value is
checked and turned into ``OSError`` with errno, so callers handle one kind of
failure.
"""

from __future__ import annotations

import ctypes
import ctypes.util
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

_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)


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

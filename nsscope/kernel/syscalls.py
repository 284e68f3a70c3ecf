"""The system calls Python lacks or hides, in one place.

``os.*`` where the running Python has it (``os.setns``/``os.unshare`` since
3.12, ``os.pidfd_open`` since 3.9), the C library through ctypes' own C module
otherwise (see ``_Libc``). Every return value is checked and turned into
``OSError`` with errno, so callers handle one kind of failure.
"""

from __future__ import annotations

import errno
import os
import sys

import _ctypes

from nsscope.kernel.abi import (NS_GET_NSTYPE, NS_GET_OWNER_UID, NS_GET_PARENT, NS_GET_USERNS,
                                PROC)

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import NoReturn


_SYS_pidfd_open = 434  # same number on every architecture (since 5.3)
_SYS_pidfd_send_signal = 424


# --- the C library ----------------------------------------------------------------
# Called through _ctypes, the C module the ctypes package is built on, with the
# few pieces ctypes.CDLL itself is made of (Lib/ctypes/__init__.py): C scalar
# types, a function-pointer class that keeps errno, and dlopen(NULL). Importing
# the ctypes package instead (its dozens of type classes, struct, ctypes._endian)
# costs ~3 ms: a sixth of `nsscope enter` on Python < 3.12, which has no
# os.setns, and a tenth of `nsscope run`.

class _Int(_ctypes._SimpleCData):
    _type_ = "i"


class _UInt(_ctypes._SimpleCData):
    _type_ = "I"


class _Long(_ctypes._SimpleCData):
    _type_ = "l"


class _ULong(_ctypes._SimpleCData):
    _type_ = "L"  # also size_t and a pointer: Linux is LP64 or ILP32


class _Char(_ctypes._SimpleCData):
    _type_ = "c"


class _Function(_ctypes.CFuncPtr):
    """A C function returning int; errno is saved for get_errno() (CDLL(use_errno=True))."""
    _flags_ = _ctypes.FUNCFLAG_CDECL | _ctypes.FUNCFLAG_USE_ERRNO
    _restype_ = _Int


class _Libc:
    """The C library's functions by name, as ``ctypes.CDLL(None, use_errno=True)``
    gives them: Python ints are passed as C ints, bytes as ``const char *``, None
    as NULL; wider types are wrapped (``_ULong(x)``)."""

    # dlopen(NULL): the C library the interpreter is already linked with. Asking
    # ctypes.util.find_library("c") would run `ldconfig -p` in a subprocess
    # (~15 ms, and the subprocess module with it).
    _handle = _ctypes.dlopen(None)  # type: ignore[arg-type]  # None: NULL (py_dl_open)

    def __getattr__(self, name: str) -> _Function:
        # dlsym() on our _handle, as CDLL.__getattr__ does (typeshed wants a CDLL)
        function = _Function((name, self))  # type: ignore[arg-type]
        setattr(self, name, function)
        return function


_libc = _Libc()
_buffer_types: dict[int, type] = {}


def _buffer(size: int, data: bytes = b"") -> _ctypes.Array:
    """A writable C buffer of ``size`` bytes, ``data`` then zeros; its bytes are
    ``.raw`` (ctypes.create_string_buffer)."""
    kind = _buffer_types.get(size)
    if kind is None:
        kind = _buffer_types[size] = type("_Buffer", (_ctypes.Array,),
                                          {"_type_": _Char, "_length_": size})
    buf = kind()
    buf.raw = data.ljust(size, b"\0")
    return buf


def _check(ret: int, what: str) -> int:
    if ret == -1:
        err = _ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")
    return ret


def setns(fd: int, nstype: int = 0) -> None:
    """Join the namespace(s) behind ``fd`` (an nsfs file or, since 5.8, a pidfd)."""
    if hasattr(os, "setns"):
        os.setns(fd, nstype)
        return
    _check(_libc.setns(fd, nstype), "setns")


def unshare(flags: int) -> None:
    if hasattr(os, "unshare"):
        os.unshare(flags)
        return
    _check(_libc.unshare(flags), "unshare")


def pidfd_open(pid: int, flags: int = 0) -> int:
    if hasattr(os, "pidfd_open"):
        return os.pidfd_open(pid, flags)
    return _check(_libc.syscall(_Long(_SYS_pidfd_open), pid, _UInt(flags)), "pidfd_open")


def pidfd_send_signal(pidfd: int, sig: int) -> None:
    if hasattr(os, "pidfd_send_signal"):  # not in CPython, but harmless
        os.pidfd_send_signal(pidfd, sig)  # type: ignore[attr-defined]
        return
    _check(_libc.syscall(_Long(_SYS_pidfd_send_signal), pidfd, sig, None, _UInt(0)),
           "pidfd_send_signal")


def ioctl(fd: int, request: int, arg: int | bytes = 0) -> tuple[int, bytes]:
    """ioctl(2) with an int or a buffer argument: (its return value, the buffer as the
    kernel left it; b"" for an int). The fcntl module does the same, but it is a
    shared library to load, and ``nsscope run``, timed against runc, needs none of
    the rest of it (~0.4 ms)."""
    if isinstance(arg, bytes):
        buf = _buffer(len(arg), arg)
        ret = _libc.ioctl(fd, _ULong(request), buf)
    else:
        buf = None
        ret = _libc.ioctl(fd, _ULong(request), _ULong(arg))
    return _check(ret, f"ioctl({request:#x})"), buf.raw if buf is not None else b""


def fcntl_int(fd: int, cmd: int, arg: int = 0) -> int:
    """fcntl(2) with an int argument (fcntl.fcntl without the module's import)."""
    return _check(_libc.fcntl(fd, cmd, _ULong(arg)), f"fcntl({cmd})")


def hung_up(fd: int) -> bool:
    """Whether poll(2) says POLLHUP for ``fd`` now (its peer closed; select.poll
    without the select module's import)."""
    # struct pollfd {int fd; short events; short revents;}: POLLIN (1), POLLHUP 0x10
    buf = _buffer(8, fd.to_bytes(4, sys.byteorder, signed=True) + (1).to_bytes(2,
                                                                              sys.byteorder))
    _check(_libc.poll(buf, _ULong(1), 0), "poll")
    return bool(int.from_bytes(buf.raw[6:8], sys.byteorder) & 0x10)


def ns_get_userns(fd: int) -> int:
    """A new fd for the user namespace owning the namespace ``fd`` refers to."""
    return ioctl(fd, NS_GET_USERNS)[0]


def ns_get_parent(fd: int) -> int:
    """A new fd for the parent of a pid or user namespace (EPERM at the top)."""
    return ioctl(fd, NS_GET_PARENT)[0]


def ns_get_owner_uid(fd: int) -> int:
    """The uid (in the caller's user namespace) that created user namespace ``fd``."""
    return int.from_bytes(ioctl(fd, NS_GET_OWNER_UID, bytes(4))[1], sys.byteorder)


def ns_get_nstype(fd: int) -> int:
    return ioctl(fd, NS_GET_NSTYPE)[0]


def statfs_magic(path: str) -> int:
    """The filesystem magic (``f_type``) of ``path``."""
    # struct statfs: 120 bytes on 64-bit Linux, fewer on 32-bit; f_type, a long, first
    buf = _buffer(128)
    if _libc.statfs(os.fsencode(path), buf) != 0:
        err = _ctypes.get_errno()
        raise OSError(err, os.strerror(err), path)
    return int.from_bytes(buf.raw[:_ctypes.sizeof(_Long)], sys.byteorder) & 0xFFFFFFFF


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
    if _libc.mount(enc(source), enc(target), enc(fstype), _ULong(flags), enc(data)) != 0:
        err = _ctypes.get_errno()
        raise OSError(err, f"mount {fstype or 'bind'} on {target}: {os.strerror(err)}", target)


def umount2(target: str, flags: int = 0) -> None:
    if _libc.umount2(os.fsencode(target), flags) != 0:
        err = _ctypes.get_errno()
        raise OSError(err, f"umount {target}: {os.strerror(err)}", target)


def pivot_root(new_root: str, put_old: str) -> None:
    machine = os.uname().machine
    nr = _SYS_pivot_root.get(machine)
    if nr is None:
        raise OSError(errno.ENOSYS, f"pivot_root: unknown syscall number on {machine}")
    if _libc.syscall(_Long(nr), os.fsencode(new_root), os.fsencode(put_old)) != 0:
        err = _ctypes.get_errno()
        raise OSError(err, f"pivot_root {new_root}: {os.strerror(err)}", new_root)


def prctl(option: int, arg2: int | bytes = 0) -> None:
    if _libc.prctl(option, arg2 if isinstance(arg2, bytes) else _ULong(arg2),
                   _ULong(0), _ULong(0), _ULong(0)) != 0:
        err = _ctypes.get_errno()
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


def cap_last_cap(proc: str = PROC) -> int:
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
    if _libc.sethostname(raw, _ULong(len(raw))) != 0:
        err = _ctypes.get_errno()
        raise OSError(err, f"sethostname: {os.strerror(err)}")


# <linux/prctl.h>, <linux/seccomp.h>
PR_SET_SECCOMP = 22
SECCOMP_MODE_FILTER = 2


def set_seccomp_filter(program: bytes) -> None:
    """Load a seccomp filter (``program``: struct sock_filter[], seccomp.program's
    bytes) for this process and its future children, for good. Through prctl's form,
    PR_SET_SECCOMP with SECCOMP_MODE_FILTER, which seccomp(2) documents as
    seccomp(SECCOMP_SET_MODE_FILTER, 0, prog) and which has one number on every
    architecture. Needs no_new_privs (or CAP_SYS_ADMIN); a multithreaded caller
    would filter this thread only (no SECCOMP_FILTER_FLAG_TSYNC)."""
    code = _buffer(len(program), program)
    pointer = _ctypes.sizeof(_ULong)
    # struct sock_fprog {unsigned short len; struct sock_filter *filter;}: the
    # pointer aligned to its size
    fprog = _buffer(2 * pointer, (len(program) // 8).to_bytes(2, sys.byteorder).ljust(
        pointer, b"\0") + _ctypes.addressof(code).to_bytes(pointer, sys.byteorder))
    if _libc.prctl(PR_SET_SECCOMP, _ULong(SECCOMP_MODE_FILTER), fprog, _ULong(0),
                   _ULong(0)) != 0:
        err = _ctypes.get_errno()
        raise OSError(err, f"cannot load the seccomp filter: {os.strerror(err)}")


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


def _u32(*values: int) -> bytes:
    return b"".join(v.to_bytes(4, sys.byteorder) for v in values)


def _cap_header() -> _ctypes.Array:
    """struct __user_cap_header_struct {__u32 version; int pid;}, pid 0: this thread.
    A buffer, not bytes: on a version it does not know the kernel writes its own."""
    return _buffer(8, _u32(_LINUX_CAPABILITY_VERSION_3, 0))


def capset(effective: int, permitted: int, inheritable: int = 0) -> None:
    """capset(2) on the calling thread; each set a mask, bit N = capability N.

    A set can only shrink (permitted) or stay within permitted (effective,
    inheritable without CAP_SETPCAP): EPERM otherwise (capabilities(7))."""
    # two struct __user_cap_data_struct {__u32 effective, permitted, inheritable;}:
    # capabilities 0-31, then 32-63
    words = [(mask >> shift) & 0xFFFFFFFF for shift in (0, 32)
             for mask in (effective, permitted, inheritable)]
    _check(_libc.capset(_cap_header(), _buffer(24, _u32(*words))), "capset")


def capget() -> tuple[int, int, int]:
    """(effective, permitted, inheritable) of the calling thread, as masks."""
    data = _buffer(24)
    _check(_libc.capget(_cap_header(), data), "capget")
    raw = data.raw
    w = [int.from_bytes(raw[i:i + 4], sys.byteorder) for i in range(0, 24, 4)]
    # w[0:3]: capabilities 0-31 of each set, w[3:6]: 32-63
    return w[0] | w[3] << 32, w[1] | w[4] << 32, w[2] | w[5] << 32


def socket_fd(family: int, kind: int, protocol: int = 0) -> int:
    """socket(2) as a bare, close-on-exec fd, for an ioctl or two without importing
    the socket module (~4 ms: the container's helper starts on every run)."""
    sock_cloexec = 0o2000000  # SOCK_CLOEXEC = O_CLOEXEC (socket(2))
    return _check(_libc.socket(family, kind | sock_cloexec, protocol), "socket")


def write_file(path: str, value: str) -> None:
    """One write(2) of the whole value to a kernel file (cgroup, /proc): the kernel
    parses it there, and EINVAL or EBUSY comes back from that call (a buffered
    write could report it late, at close, or never)."""
    fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
    try:
        os.write(fd, value.encode())
    finally:
        os.close(fd)


def execvpe(argv: list[str] | tuple[str, ...],
            env: Mapping[str, str] | Mapping[bytes, bytes]) -> NoReturn:
    """execvpe(3): ``argv[0]`` looked up in the PATH of ``env`` (str or bytes keys;
    without one, os.defpath), as ``nsscope enter`` and ``run`` start CMD. Not
    os.execvpe: it imports ``warnings`` lazily (os.get_exec_path), and after chroot
    or pivot_root the host's standard library is out of reach. Raises the first
    error other than "not there" (EACCES …), else FileNotFoundError."""
    cmd = argv[0]
    if "/" in cmd:
        os.execve(cmd, argv, env)
    path = env.get("PATH", env.get(b"PATH", os.defpath))  # type: ignore[call-overload]
    error: OSError = FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), cmd)
    for d in os.fsdecode(path).split(":"):
        try:
            os.execve(os.path.join(d or ".", cmd), argv, env)
        except (FileNotFoundError, NotADirectoryError):
            continue
        except OSError as e:  # EACCES and the like: remembered, the search goes on
            if isinstance(error, FileNotFoundError):
                error = e
    raise error


def memmove(address: int, data: bytes) -> None:
    """Copy ``data`` to ``address`` in our own memory (ctypes.memmove)."""
    _libc.memmove(_ULong(address), data, _ULong(len(data)))


def thread_count(proc: str = PROC) -> int:
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


# --- paths resolved inside a root, sealed memfds, recursive mount flags --------
# (the defences of nsscope run and enter against a hostile root: docs/security.md)
_SYS_openat2 = 437  # asm-generic numbering, the same on every architecture (5.6)
_SYS_mount_setattr = 442  # (5.12)
# <linux/openat2.h>
RESOLVE_NO_XDEV = 0x01
RESOLVE_NO_MAGICLINKS = 0x02
RESOLVE_NO_SYMLINKS = 0x04
RESOLVE_BENEATH = 0x08
RESOLVE_IN_ROOT = 0x10
# <linux/mount.h>
MOUNT_ATTR_RDONLY = 0x00000001
AT_RECURSIVE = 0x8000
# <linux/magic.h>
PROC_SUPER_MAGIC = 0x9FA0
SYSFS_MAGIC = 0x62656572


def openat2(dirfd: int, path: str, flags: int, resolve: int, mode: int = 0) -> int:
    """openat2(2): ``path`` opened relative to ``dirfd`` under the RESOLVE_* rules
    (RESOLVE_IN_ROOT: ``dirfd`` is the root every "/" and ".." stops at). OSError
    with errno (ENOSYS before Linux 5.6; EXDEV/ELOOP when the rules refuse)."""
    # struct open_how {__u64 flags; __u64 mode; __u64 resolve;}
    how = b"".join(v.to_bytes(8, sys.byteorder) for v in (flags | os.O_CLOEXEC, mode, resolve))
    ret = _libc.syscall(_Long(_SYS_openat2), dirfd, os.fsencode(path), how, _ULong(len(how)))
    if ret < 0:
        err = _ctypes.get_errno()
        raise OSError(err, os.strerror(err), path)
    return ret


def fstatfs_magic(fd: int) -> int:
    """The filesystem magic (``f_type``) of what ``fd`` refers to (O_PATH fds too)."""
    buf = _buffer(128)
    if _libc.fstatfs(fd, buf) != 0:
        err = _ctypes.get_errno()
        raise OSError(err, os.strerror(err))
    return int.from_bytes(buf.raw[:_ctypes.sizeof(_Long)], sys.byteorder) & 0xFFFFFFFF


def mount_setattr_recursive_rdonly(path: str) -> None:
    """mount_setattr(2) with AT_RECURSIVE and MOUNT_ATTR_RDONLY: the mount at ``path``
    and every mount below it read-only (a bind's MS_RDONLY reaches its top mount only)."""
    # struct mount_attr {__u64 attr_set, attr_clr, propagation, userns_fd;}
    attr = b"".join(v.to_bytes(8, sys.byteorder) for v in (MOUNT_ATTR_RDONLY, 0, 0, 0))
    if _libc.syscall(_Long(_SYS_mount_setattr), -100, os.fsencode(path),  # AT_FDCWD
                     _UInt(AT_RECURSIVE), attr, _ULong(len(attr))) != 0:
        err = _ctypes.get_errno()
        raise OSError(err, f"mount_setattr {path}: {os.strerror(err)}", path)


def fd_path(fd: int) -> str:
    """The /proc/self/fd path of ``fd``: mount(2) and friends then act on what the fd
    holds, not on a path someone could swap (runc's utils.WithProcfd, CVE-2021-30465)."""
    return f"/proc/self/fd/{fd}"

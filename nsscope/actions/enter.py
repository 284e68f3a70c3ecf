"""``nsscope enter TARGET [options] [-- CMD ARGS…]``: run CMD inside a process's or a
container's namespaces, as ``nsenter --all`` would, but safe and container-faithful.

The whole path runs in one single-threaded process (setns(2) into a mount or user
namespace fails with EINVAL in a multithreaded one), in three steps:

1. ``prepare`` changes nothing. It takes a pidfd on the target and checks that the
   process behind it still has the start time it had when the target was resolved
   (a recycled pid is refused, not entered), then reads and opens everything that
   must be read or opened from the caller's side: the namespaces to join, the
   target's root and working directory, its cgroups' ``tasks``/``cgroup.procs``,
   its ids, its capability bounding set, no_new_privs and environment.
2. ``join`` moves this process into the target's namespaces: one atomic
   ``setns(pidfd, flags)`` on Linux >= 5.8, else one setns per ``/proc/PID/ns`` fd
   opened in step 1 (user namespace first when unprivileged, last otherwise, as
   nsenter does), then into the target's root and working directory.
3. After joining a pid namespace only children enter it (pid_namespaces(7)), so a
   child is forked; so it is when fd 0 is the terminal whose foreground we are:
   CMD then runs as a job of its own in the foreground, and the waiting parent
   takes the terminal back (owner and modes) however CMD ended, so that the
   caller's shell, script or TUI gets it back as it was (nsscope/kernel/tty.py).
   The parent waits, forwards signals, and exits as CMD did. The
   child moves itself into the target's cgroups (the waiting parent is not the
   container's, as runc exec's runc is not, and does not count toward its
   pids.max); without a fork this process joins them before step 2. CMD's
   process takes the target's ids, bounding set and no_new_privs, closes every
   fd but 0-2 and execs CMD in a clean environment.

Exit status as ``docker exec``: CMD's, or 125 (could not enter), 126 (CMD not
executable), 127 (CMD not found).

A container is hostile (docs/security.md). Before the join, every fd the caller
left open is closed (an /etc/passwd symlinked to /proc/self/fd/N would read
it) and this process stops being dumpable (no process of the container can
open its /proc/PID/exe, the host interpreter, nor its fds or memory, until the
exec). CMD is never exec'd from the host interpreter: the sealed exec helper
does it (nsscope/exeseal.py, CVE-2019-5736). The child restores its signal
mask before it reads anything of the container, and reads /etc/passwd and
/etc/group only if they are regular files, without blocking, size-capped (a
FIFO there hung enter for good). ``--env`` copies a container's environment
only into its mount namespace: in the host's, its PATH and LD_* would pick and
load host or container binaries as host root.
"""

from __future__ import annotations

import errno
import os

# _signal is signal without the IntEnum wrappers signal.py adds, whose `import
# enum` would cost every enter a few ms; the interpreter loads it at start-up
try:
    import _signal as signal
except ImportError:  # not CPython
    import signal  # type: ignore[no-redef]
import sys

from nsscope.host import mountinfo
from nsscope.kernel import exeseal, syscalls, tty
from nsscope.errors import AccessDenied, NoSuchProcess, NsscopeError
from nsscope.host.processes import parse_cgroup, parse_stat, read_at, read_ns_links
from nsscope.kernel.abi import CGROUP_ROOT, CLONE_FLAGS, NS_TYPES, PF_KTHREAD, PROC
from nsscope.host.target import Target

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (see Request)
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import NoReturn

#: docker exec's exit statuses (docker run reference, "Exit status")
EXIT_CANNOT_ENTER = 125
EXIT_CANNOT_EXECUTE = 126
EXIT_NOT_FOUND = 127

#: PATH of the clean environment (the one docker gives a container without ENV PATH)
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

#: the order nsenter joins namespaces in with one setns per fd (nsenter.c
#: namespace_files[]); the user namespace is placed first or last separately
JOIN_ORDER = ("cgroup", "ipc", "uts", "net", "pid", "mnt", "time")

#: signals the waiting parent passes on to CMD (docker exec's sig-proxy, tini)
FORWARDED = (signal.SIGHUP, signal.SIGINT, signal.SIGQUIT, signal.SIGTERM, signal.SIGUSR1,
             signal.SIGUSR2, signal.SIGALRM, signal.SIGWINCH)
#: blocked while forking and waiting: SIGCHLD is taken with sigwaitinfo, and with
#: SIGTTOU/SIGTTIN blocked the waiting parent may set the terminal from the background
_JOB_SIGNALS = (signal.SIGCHLD, signal.SIGTTOU, signal.SIGTTIN)
#: si_code of a signal the kernel raised itself, e.g. the tty's ^C to the
#: foreground process group (<asm-generic/siginfo.h>)
SI_KERNEL = 0x80

_O_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC
_O_PATH_DIR = os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC


class CannotEnter(NsscopeError):
    """The target could not be entered (or CMD not started): docker exec's 125."""

    exit_code = EXIT_CANNOT_ENTER


# --- what was asked ------------------------------------------------------------

class Request:
    """What ``nsscope enter`` was asked to do (read-only once made).

    A plain class, like ``Identity`` and ``Entry``: the enter path keeps clear of
    the typing and dataclasses modules, whose import alone costs a fifth of the
    interpreter's start-up (bench/bench_enter.py).
    """

    __slots__ = ("cmd", "env", "gid", "privileged", "root", "shell", "target", "types", "uid",
                 "wd")

    def __init__(self, target: str, cmd: tuple[str, ...] = (),
                 types: frozenset[str] = frozenset(), root: str | None = None,
                 wd: str | None = None, uid: int | None = None, gid: int | None = None,
                 env: bool = False, privileged: bool = False, shell: str | None = None) -> None:
        self.target = target
        #: CMD and its arguments; empty: ``shell`` if the target's root has it, else
        #: the login shell of the user CMD runs as, else /bin/sh
        self.cmd = cmd
        #: --shell: the shell preferred when no CMD is given (the TUI passes $SHELL)
        self.shell = shell
        #: types asked for with -m -u …; empty: every type that differs (the default)
        self.types = types
        #: None: unchanged (the target's when no type is asked for); "": the
        #: target's; else a directory of the caller's mount namespace
        self.root = root
        self.wd = wd
        #: --user UID[:GID]
        self.uid = uid
        self.gid = gid
        self.env = env
        self.privileged = privileged

    @property
    def all_types(self) -> bool:
        return not self.types


# --- step 1: prepare (reads and opens; changes nothing) ------------------------

class Identity:
    """Real, effective and saved uid and gid, and supplementary groups, as numbers of
    the user namespace CMD runs in."""

    __slots__ = ("gids", "groups", "uids")

    def __init__(self, uids: tuple[int, int, int], gids: tuple[int, int, int],
                 groups: tuple[int, ...]) -> None:
        self.uids = uids
        self.gids = gids
        self.groups = groups


class Entry:
    """Everything ``prepare`` found and opened; ``join`` and ``_become`` only use it."""

    def __init__(self, target: Target, request: Request, pidfd: int | None,
                 dirfd: int) -> None:
        self.target = target
        self.request = request
        #: pidfd of the target (None before Linux 5.3) and an fd on its /proc/PID
        self.pidfd = pidfd
        self.dirfd = dirfd
        #: the namespace types to join, and their CLONE_NEW* flags together
        self.types: tuple[str, ...] = ()
        self.flags = 0
        #: type -> fd on /proc/PID/ns/TYPE, when joining one setns at a time
        self.ns_fds: dict[str, int] = {}
        self.root_fd: int | None = None
        self.wd_fd: int | None = None
        #: ("cpu:/docker/abc", fd on its tasks or cgroup.procs) for every hierarchy to join
        self.cgroup_fds: list[tuple[str, int]] = []
        #: the target's ids; None: --user (looked up in the target's root) or --privileged
        self.identity: Identity | None = None
        #: False in a user namespace whose /proc/PID/setgroups says "deny"
        self.setgroups_allowed = True
        #: the target's CapBnd; None: keep the caller's (--privileged)
        self.bounding: int | None = None
        #: the highest capability of this kernel (read while /proc is in reach)
        self.cap_last_cap = 40
        self.no_new_privs = False
        #: the target's /proc/PID/environ (--env); None: a clean environment
        self.environ: dict[bytes, bytes] | None = None
        #: CAP_SYS_ADMIN in the caller's user namespace
        self.privileged_caller = False
        #: the sealed exec helper (exeseal), made before anything is joined
        self.helper_fd: int | None = None

    @property
    def fork(self) -> bool:
        # setns(CLONE_NEWPID) moves only the children (pid_namespaces(7))
        return "pid" in self.types

    def fds(self) -> list[int]:
        out = [*self.ns_fds.values(), *(fd for _, fd in self.cgroup_fds)]
        out += [fd for fd in (self.dirfd, self.pidfd, self.root_fd, self.wd_fd)
                if fd is not None and fd >= 0]
        return out

    def close(self) -> None:
        """Close what was opened on the caller's side (not the exec helper: CMD's
        process needs it; it is close-on-exec)."""
        for fd in self.fds():
            try:
                os.close(fd)
            except OSError:
                pass
        self.ns_fds.clear()
        self.cgroup_fds.clear()
        self.pidfd = self.root_fd = self.wd_fd = None
        self.dirfd = -1


def _status(data: bytes) -> dict[str, str]:
    out = {}
    for line in data.decode("utf-8", "replace").splitlines():
        key, _, value = line.partition(":")
        out[key] = value.strip()
    return out


def _map_inward(id_map: str, outside: int) -> int | None:
    """An id of the reader's user namespace -> the same id inside the namespace whose
    uid_map/gid_map this is (lines 'inside outside count', user_namespaces(7))."""
    for line in id_map.splitlines():
        parts = line.split()
        if len(parts) != 3:
            continue
        first_in, first_out, count = (int(x) for x in parts)
        if first_out <= outside < first_out + count:
            return first_in + outside - first_out
    return None


def _fail_for(e: OSError, target: Target, what: str) -> NsscopeError:
    """OSError while reading the target -> the error the user should see."""
    if e.errno in (errno.ESRCH, errno.ENOENT):
        return NoSuchProcess(target.pid, f"process {target.pid} exited")
    if e.errno in (errno.EACCES, errno.EPERM):
        return AccessDenied(what, f"permission denied: cannot read {what} of process "
                                  f"{target.pid} (ptrace access mode check, ptrace(2))")
    return CannotEnter(f"cannot read {what} of process {target.pid}: {e.strerror}")


def _check_same_process(plan: Entry) -> None:
    """The process behind the pidfd and the /proc dirfd is the one that was resolved.

    While the pidfd's process is not reaped its pid cannot be reused, so what
    /proc/PID shows is that process; its start time then tells it from an earlier
    holder of the pid (proc(5), field 22 of /proc/PID/stat).
    """
    target = plan.target
    try:
        stat = read_at(plan.dirfd, "stat")
    except OSError as e:
        raise _fail_for(e, target, "stat") from None
    starttime = parse_stat(stat)[4]
    if plan.pidfd is not None:
        try:
            syscalls.pidfd_send_signal(plan.pidfd, 0)
        except OSError as e:
            if e.errno == errno.ESRCH:
                raise NoSuchProcess(target.pid, f"process {target.pid} exited") from None
            # EPERM: not ours to signal, but alive
    if starttime != target.starttime:
        raise NoSuchProcess(target.pid, f"process {target.pid} exited and its pid was reused "
                                        "by another process: refusing to enter that one")


def _open_target(target: Target, proc: str) -> tuple[int | None, int]:
    """(pidfd or None on kernels < 5.3, fd on /proc/PID)."""
    pid = target.pid
    pidfd: int | None
    try:
        pidfd = syscalls.pidfd_open(pid)
    except OSError as e:
        if e.errno == errno.ESRCH:
            raise NoSuchProcess(pid) from None
        if e.errno == errno.EINVAL:
            # pidfd_open(2): EINVAL when pid is not a thread-group leader
            raise CannotEnter(f"{pid} is a thread id, not a process id") from None
        if e.errno != errno.ENOSYS:
            raise
        pidfd = None  # before 5.3 the /proc/PID dirfd alone pins the process
    try:
        dirfd = os.open(f"{proc}/{pid}", _O_DIR)
    except OSError as e:
        if pidfd is not None:
            os.close(pidfd)
        raise _fail_for(e, target, f"{proc}/{pid}") from None
    return pidfd, dirfd


def _own_status(proc: str) -> dict[str, str]:
    with open(f"{proc}/self/status", "rb") as f:
        return _status(f.read())


def prepare(target: Target, request: Request, *, proc: str = PROC,
            cgroup_root: str = CGROUP_ROOT, pidfd_setns: bool | None = None) -> Entry:
    """Check the target and open everything the join needs; nothing is changed yet.

    ``pidfd_setns``: join with one setns(pidfd) (default: when the kernel can, >= 5.8),
    or False for one setns per /proc/PID/ns fd.
    """
    pid = target.pid
    if pid == os.getpid():
        raise CannotEnter(f"process {pid} is nsscope itself")
    if len(os.listdir(f"{proc}/self/task")) != 1:
        # setns(2): EINVAL for mnt and user namespaces in a multithreaded process
        raise CannotEnter("nsscope enter must run single-threaded")
    pidfd, dirfd = _open_target(target, proc)
    plan = Entry(target=target, request=request, pidfd=pidfd, dirfd=dirfd)
    try:
        _check_same_process(plan)
        _prepare(plan, request, proc, cgroup_root, pidfd_setns)
        # made here, where an unsupported architecture is one clean refusal
        plan.helper_fd = exeseal.sealed_fd()
        # everything was opened through the pinned process; check it once more last
        _check_same_process(plan)
    except BaseException:
        plan.close()
        if plan.helper_fd is not None:
            os.close(plan.helper_fd)
        raise
    return plan


def _prepare(plan: Entry, request: Request, proc: str, cgroup_root: str,
             pidfd_setns: bool | None) -> None:
    target, dirfd = plan.target, plan.dirfd
    pid = target.pid
    try:
        comm, state, _, flags, _ = parse_stat(read_at(dirfd, "stat"))
        status = _status(read_at(dirfd, "status"))
    except OSError as e:
        raise _fail_for(e, target, "status") from None
    if flags & PF_KTHREAD:
        raise CannotEnter(f"process {pid} ({comm}) is a kernel thread: it has no namespaces "
                          "of its own to enter")
    if state in ("Z", "X"):
        raise CannotEnter(f"process {pid} ({comm}) is a zombie: it exited, nothing is left "
                          "to enter")

    # namespaces: the target's against ours
    theirs, visible = read_ns_links(dirfd)
    if not visible:
        raise AccessDenied(f"{proc}/{pid}/ns", f"permission denied: cannot enter process {pid} "
                           "(its namespaces fail the ptrace access mode check, ptrace(2))")
    if not theirs:
        raise NoSuchProcess(pid, f"process {pid} exited")
    ours_fd = os.open(f"{proc}/self", _O_DIR)
    try:
        ours, _ = read_ns_links(ours_fd)
    finally:
        os.close(ours_fd)
    for t in request.types:
        if t not in theirs:
            raise CannotEnter(f"this kernel has no {t} namespaces")
    wanted = NS_TYPES if request.all_types else tuple(request.types)
    # a namespace we are already in needs no setns; joining one's own user
    # namespace is even an error (setns(2): EINVAL)
    types = tuple(t for t in wanted if t in theirs and theirs[t] != ours.get(t))
    if request.env and "mnt" not in types and theirs.get("mnt") != ours.get("mnt"):
        # the target's PATH and LD_PRELOAD … in the host's mount namespace would pick
        # and load host or container files as host root (issue 12, item 5)
        raise CannotEnter("--env copies the target's environment (PATH, LD_*) only into "
                          "its own mount namespace: add -m, or leave out --env")
    plan.types = types
    for t in types:
        plan.flags |= CLONE_FLAGS[t]
    plan.privileged_caller = bool(int(_own_status(proc).get("CapEff", "0"), 16)
                                  & (1 << syscalls.CAP_SYS_ADMIN))
    if pidfd_setns is None:
        pidfd_setns = plan.pidfd is not None and syscalls.setns_takes_pidfd()
    if types and not pidfd_setns:
        _open_ns_fds(plan)

    # root and working directory: opened here, in the caller's mount namespace
    root = request.root if request.root is not None else ("" if request.all_types else None)
    wd = request.wd if request.wd is not None else ("" if request.all_types else None)
    plan.root_fd = _open_dir(plan, root, "root")
    plan.wd_fd = _open_dir(plan, wd, "cwd")

    # cgroups
    plan.cgroup_fds = _open_cgroups(plan, proc, cgroup_root)

    # who CMD runs as
    joins_user = "user" in types
    if request.privileged:
        plan.identity = None
    else:
        try:
            uid_map = read_at(dirfd, "uid_map").decode() if joins_user else ""
            gid_map = read_at(dirfd, "gid_map").decode() if joins_user else ""
            if joins_user:
                plan.setgroups_allowed = read_at(dirfd, "setgroups").strip() == b"allow"
        except OSError as e:
            raise _fail_for(e, target, "uid_map") from None
        if request.uid is None:
            plan.identity = _identity(status, uid_map, gid_map, joins_user, pid)
        plan.bounding = int(status.get("CapBnd", "0"), 16)
        plan.cap_last_cap = syscalls.cap_last_cap(proc)
        plan.no_new_privs = status.get("NoNewPrivs", "0") == "1"
    if request.env:
        try:
            raw = read_at(dirfd, "environ")
        except OSError as e:
            raise _fail_for(e, target, "environ") from None
        env = {}
        for item in raw.split(b"\0"):
            key, eq, value = item.partition(b"=")
            if eq and key:
                env[key] = value
        plan.environ = env


def _identity(status: dict[str, str], uid_map: str, gid_map: str, joins_user: bool,
              pid: int) -> Identity:
    """The target's ids, in the user namespace CMD will run in."""
    def inward(text: str, id_map: str, what: str) -> int:
        outside = int(text)
        if not joins_user:
            return outside
        inside = _map_inward(id_map, outside)
        if inside is None:
            raise CannotEnter(f"{what} {outside} of process {pid} is not mapped in its own "
                              "user namespace")
        return inside
    uids = tuple(inward(x, uid_map, "uid") for x in status["Uid"].split()[:3])
    gids = tuple(inward(x, gid_map, "gid") for x in status["Gid"].split()[:3])
    groups = []
    for g in status.get("Groups", "").split():
        inside = _map_inward(gid_map, int(g)) if joins_user else int(g)
        if inside is not None:  # an unmapped group cannot be set (it shows as 65534)
            groups.append(inside)
    return Identity(uids=uids, gids=gids, groups=tuple(groups))  # type: ignore[arg-type]


def _open_ns_fds(plan: Entry) -> None:
    """Open every /proc/PID/ns/TYPE to join before the first setns, through the
    pinned /proc/PID (a reused pid then fails instead of naming another process)."""
    for t in plan.types:
        try:
            plan.ns_fds[t] = os.open(f"ns/{t}", os.O_RDONLY | os.O_CLOEXEC, dir_fd=plan.dirfd)
        except OSError as e:
            raise _fail_for(e, plan.target, f"ns/{t}") from None


def _open_dir(plan: Entry, where: str | None, link: str) -> int | None:
    """An O_PATH fd on the target's root/cwd ("") or on a caller-side directory."""
    if where is None:
        return None
    try:
        if where == "":
            return os.open(link, _O_PATH_DIR, dir_fd=plan.dirfd)
        return os.open(where, _O_PATH_DIR)
    except OSError as e:
        if where == "":
            raise _fail_for(e, plan.target, link) from None
        raise CannotEnter(f"cannot open {where}: {e.strerror}") from None


def _open_cgroups(plan: Entry, proc: str, cgroup_root: str) -> list[tuple[str, int]]:
    """tasks (v1) or cgroup.procs (v2, see move_to_cgroups) of each of the target's
    cgroups that is not already ours, opened for writing before anything changes."""
    try:
        theirs = parse_cgroup(read_at(plan.dirfd, "cgroup"))
    except FileNotFoundError:
        return []  # a kernel without cgroups
    except OSError as e:
        raise _fail_for(e, plan.target, "cgroup") from None
    with open(f"{proc}/self/cgroup", "rb") as f:
        ours = parse_cgroup(f.read())
    differ = {key: path for key, path in theirs.items() if ours.get(key) != path}
    if not differ:
        return []
    mounts = {h[0]: h for h in mountinfo.cgroup_hierarchies(cgroup_root, proc)}
    out: list[tuple[str, int]] = []
    try:
        for key, path in differ.items():
            h = mounts.get(key)
            # a hierarchy we do not see mounted, or a cgroup outside our cgroup
            # namespace ("/../…", cgroup_namespaces(7)), cannot be named: skip it
            if h is None or path.startswith("/..") or path.endswith(" (deleted)"):
                continue
            _, version, _, mountpoint, mount_root = h
            root = mount_root.rstrip("/")
            if root and path != root and not path.startswith(root + "/"):
                continue
            rel = path[len(root):]
            name = f"{key or '0:'}:{path}"
            try:
                procs = "tasks" if version == 1 else "cgroup.procs"
                fd = os.open(f"{mountpoint}{rel}/{procs}", os.O_WRONLY | os.O_CLOEXEC)
            except OSError as e:
                raise CannotEnter(f"cannot join cgroup {name}: {e.strerror}") from None
            out.append((name, fd))
    except BaseException:
        for _, fd in out:
            os.close(fd)
        raise
    return out


# --- step 2: join ----------------------------------------------------------------

def _setns_error(e: OSError, plan: Entry, types: Sequence[str]) -> NsscopeError:
    pid = plan.target.pid
    names = "+".join(types)
    if e.errno == errno.ESRCH:
        return NoSuchProcess(pid, f"process {pid} exited")
    if e.errno == errno.EPERM:
        return AccessDenied(names, f"permission denied: cannot join the {names} namespace of "
                                   f"process {pid} (setns(2) needs CAP_SYS_ADMIN in the user "
                                   "namespace owning it)")
    return CannotEnter(f"cannot join the {names} namespace of process {pid}: "
                       f"{os.strerror(e.errno or 0)}")


def _setns_each(plan: Entry) -> None:
    """One setns per fd opened in ``prepare``. Unprivileged, the user namespace comes
    first: joining it grants the capabilities the others need (user_namespaces(7)).
    Privileged, it comes last, as with nsenter: once in a child user namespace, the
    caller's capabilities no longer reach namespaces its own one owns."""
    fds = plan.ns_fds
    order = [t for t in JOIN_ORDER if t in fds]
    if "user" in fds:
        order = order + ["user"] if plan.privileged_caller else ["user", *order]
    for t in order:
        try:
            syscalls.setns(fds[t], CLONE_FLAGS[t])
        except OSError as e:
            raise _setns_error(e, plan, [t]) from None


def move_to_cgroups(plan: Entry) -> None:
    """Move this (single-threaded) process into the target's cgroups: "0", itself,
    into each file ``prepare`` opened, ``tasks`` of a v1 hierarchy and
    ``cgroup.procs`` of v2.

    Moving the writer's own thread through ``tasks`` skips the global
    cgroup_threadgroup_rwsem, whose write side waits for an RCU grace period
    (kernel/cgroup/cgroup.c, cgroup_procs_write_start(): "If we migrate a single
    thread, we don't care about threadgroup stability"): ~14 ms a hierarchy here,
    which runc exec pays. v2 has no such file for a domain cgroup (cgroup.threads
    refuses, EOPNOTSUPP), so there it is cgroup.procs and the lock.

    After setns this still works: since Linux 5.16 (e57457641613, "cgroup: Use
    open-time cgroup namespace for process migration perm checks", backported to
    the stable kernels as the fix of CVE-2021-4197) the permission checks take the
    cgroup namespace and credentials of the opener, the caller before any setns;
    they matter where cgroup namespaces are delegation boundaries (v2 mounted
    with nsdelegate, as systemd does)."""
    for name, fd in plan.cgroup_fds:
        try:
            os.write(fd, b"0")
        except OSError as e:
            raise CannotEnter(f"cannot join cgroup {name}: {e.strerror}") from None


def join(plan: Entry) -> None:
    """Into the target's namespaces, root and working directory."""
    if plan.ns_fds:
        _setns_each(plan)
    elif plan.types:
        # all at once: the kernel enters the user namespace first and checks every
        # other against both the caller's and the new credentials; if one fails,
        # none is joined (setns(2), "Linux 5.8")
        assert plan.pidfd is not None
        try:
            syscalls.setns(plan.pidfd, plan.flags)
        except OSError as e:
            raise _setns_error(e, plan, plan.types) from None
    try:
        # chroot only when it changes something: the target's root is often ours
        # (or the root of the mount namespace just joined), and chroot needs
        # CAP_SYS_CHROOT, which an unprivileged caller may lack
        if plan.root_fd is not None and not _same_file(plan.root_fd, "/"):
            os.fchdir(plan.root_fd)
            os.chroot(".")
        if plan.wd_fd is not None:
            os.fchdir(plan.wd_fd)
        elif plan.root_fd is not None:
            os.chdir("/")
    except OSError as e:
        raise CannotEnter(f"cannot change to the target's root or working directory: "
                          f"{e.strerror}") from None


def _same_file(fd: int, path: str) -> bool:
    a, b = os.fstat(fd), os.stat(path)
    return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)


# --- step 3: fork, become the target's user, exec ----------------------------------

def enter(target: Target, request: Request, *, proc: str = PROC,
          cgroup_root: str = CGROUP_ROOT, pidfd_setns: bool | None = None) -> int:
    """Enter ``target`` and run the request's CMD there.

    Returns CMD's exit status when a child was forked; otherwise this process
    becomes CMD and never returns. Raises NsscopeError when the target cannot be
    entered; nothing outside this process has changed then.
    """
    plan = prepare(target, request, proc=proc, cgroup_root=cgroup_root,
                   pidfd_setns=pidfd_setns)
    # the terminal on fd 0, when we own it: CMD gets it as a job of its own and a
    # waiting parent takes it back, whatever CMD did to it (nsscope/kernel/tty.py)
    term = tty.claim(0)
    fork = plan.fork or term is not None
    try:
        # nothing of the caller's beyond 0-2 comes along into the container
        # (CVE-2024-21626's lesson), and nothing of ours is open to it (module doc)
        _close_all_but([0, 1, 2, *plan.fds(), plan.helper_fd])
        syscalls.set_dumpable(False)
        if not fork:
            # cgroups first, while our cgroup namespace is still the caller's
            move_to_cgroups(plan)
        join(plan)
        if not fork:
            plan.close()  # nothing opened on the caller's side reaches CMD
            _become(plan)
        # Python ignores SIGPIPE and SIGXFSZ, and SIGCHLD must not be ignored for
        # waitpid (nsenter's continue_as_child() resets it too)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        old_mask = signal.pthread_sigmask(signal.SIG_BLOCK, {*FORWARDED, *_JOB_SIGNALS})
        child = os.fork()
        if child == 0:
            try:
                if term is not None:
                    # a process group of its own, in the foreground, before CMD can
                    # touch the terminal (bash jobs.c make_child: both sides setpgid)
                    os.setpgid(0, 0)
                    tty.give(term, os.getpgrp())
                # at once: the signals the parent forwards must reach us (a FIFO
                # read could otherwise hold us for good, immune to ^C and SIGTERM)
                _restore_signals(old_mask)
                move_to_cgroups(plan)
                plan.close()
                _become(plan)
            except NsscopeError as e:
                _die(str(e), EXIT_CANNOT_ENTER)
            except BaseException:  # never back into the caller's code
                _die("cannot enter: unexpected error", EXIT_CANNOT_ENTER)
        if term is not None:
            try:
                os.setpgid(child, child)
            except OSError:
                pass  # the child did it first (EACCES once it has exec'd)
    finally:
        plan.close()
        if plan.helper_fd is not None and fork:
            os.close(plan.helper_fd)
    return _wait_forwarding(child, term)


def _close_all_but(keep: list[int | None]) -> None:
    """Close every fd of this process but ``keep`` (close_range(2) on the gaps)."""
    low = 0
    for fd in sorted({fd for fd in keep if fd is not None}):
        if fd > low:
            os.closerange(low, fd)
        low = max(low, fd + 1)
    os.closerange(low, os.sysconf("SC_OPEN_MAX"))


#: the most of a container's /etc/passwd or /etc/group that is read
_ETC_MAX = 4 << 20


def _read_etc(path: str) -> str | None:
    """A container's /etc file: only a regular file, opened without blocking (a FIFO
    or a device there must not hold enter), at most _ETC_MAX bytes; None otherwise."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        if os.fstat(fd).st_mode & 0o170000 != 0o100000:  # S_ISREG
            return None
        chunks: list[bytes] = []
        size = 0
        while size < _ETC_MAX:
            data = os.read(fd, min(65536, _ETC_MAX - size))
            if not data:
                break
            chunks.append(data)
            size += len(data)
        return b"".join(chunks).decode("utf-8", "replace")
    except OSError:
        return None
    finally:
        os.close(fd)


def _passwd(uid: int) -> tuple[str, int, str, str] | None:
    """(name, gid, home, shell) of ``uid`` in /etc/passwd of the root we are in now."""
    data = _read_etc("/etc/passwd")
    if data is None:
        return None
    for line in data.splitlines():
        f = line.split(":")
        if len(f) >= 7 and f[2] == str(uid):
            try:
                return f[0], int(f[3]), f[5], f[6]
            except ValueError:
                return None
    return None


def _member_groups(name: str) -> list[int]:
    """The gids /etc/group lists ``name`` as a member of (as docker exec --user does)."""
    data = _read_etc("/etc/group")
    if data is None:
        return []
    out = []
    for line in data.splitlines():
        f = line.split(":")
        if len(f) >= 4 and name in f[3].split(","):
            try:
                out.append(int(f[2]))
            except ValueError:
                pass
    return out


def _credentials(plan: Entry) -> tuple[Identity | None, tuple[str, int, str, str] | None]:
    """(ids to take or None to keep ours, the passwd entry of the uid CMD runs as)."""
    request = plan.request
    if request.privileged:
        if "user" in plan.types:
            # nsenter, entering a user namespace without --preserve-credentials,
            # becomes 0:0 there with no supplementary groups
            ident = Identity(uids=(0, 0, 0), gids=(0, 0, 0), groups=())
            return ident, _passwd(0)
        return None, _passwd(os.getuid())
    if request.uid is not None:
        entry = _passwd(request.uid)
        gid = request.gid if request.gid is not None else (entry[1] if entry else 0)
        groups = tuple(_member_groups(entry[0])) if entry else ()
        uid = request.uid
        return Identity(uids=(uid, uid, uid), gids=(gid, gid, gid), groups=groups), entry
    assert plan.identity is not None
    return plan.identity, _passwd(plan.identity.uids[0])


def _take_credentials(plan: Entry, ident: Identity | None) -> None:
    """The target's bounding set and no_new_privs, then its groups, gid and uid."""
    if plan.bounding is not None:
        for cap in range(plan.cap_last_cap + 1):
            if not plan.bounding & (1 << cap):
                syscalls.capbset_drop(cap)
    if ident is not None:
        try:
            os.setgroups(list(ident.groups))
        except PermissionError:
            # user_namespaces(7): setgroups is denied in a user namespace whose
            # /proc/PID/setgroups is "deny" (unshare --map-root-user): keep ours
            if plan.setgroups_allowed and not plan.request.privileged:
                raise
        try:
            os.setresgid(*ident.gids)
            os.setresuid(*ident.uids)
        except OSError as e:
            if e.errno != errno.EINVAL:
                raise
            # setresuid(2): EINVAL for an id with no mapping in our user namespace
            raise CannotEnter(f"uid {ident.uids[1]} or gid {ident.gids[1]} has no mapping in "
                              "the target's user namespace") from None
    if plan.no_new_privs:
        syscalls.set_no_new_privs()
    if plan.bounding is not None:
        try:
            syscalls.cap_ambient_clear_all()
        except OSError:
            pass  # before 4.3 there are no ambient capabilities


def _environment(plan: Entry, entry: tuple[str, int, str, str] | None) -> dict[bytes, bytes]:
    if plan.environ is not None:
        return plan.environ
    term = os.environb.get(b"TERM", b"dumb")
    home = entry[2] if entry and entry[2] else "/"
    return {b"PATH": DEFAULT_PATH.encode(), b"TERM": term, b"HOME": os.fsencode(home)}


def _default_cmd(entry: tuple[str, int, str, str] | None,
                 preferred: str | None = None) -> tuple[str, ...]:
    """``preferred`` (--shell), else the login shell of the user CMD runs as, when the
    root we are in now has it (an executable regular file); else /bin/sh. A shell the
    root lacks is passed over silently: a busybox container has no /bin/bash."""
    for shell in (preferred, entry[3] if entry else ""):
        if shell and shell.startswith("/") and os.path.isfile(shell) \
                and os.access(shell, os.X_OK):
            return (shell,)
    return ("/bin/sh",)


def _restore_signals(old_mask: set | None) -> None:
    """What CMD must not inherit from Python: its ignored SIGPIPE and SIGXFSZ, its
    SIGINT handler, and the mask the forking parent set."""
    for sig in (signal.SIGPIPE, signal.SIGXFSZ):
        signal.signal(sig, signal.SIG_DFL)
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        signal.signal(signal.SIGINT, signal.SIG_DFL)
    if old_mask is not None:
        signal.pthread_sigmask(signal.SIG_SETMASK, old_mask)


def _die(message: str, status: int) -> NoReturn:
    try:
        os.write(2, f"nsscope: {message}\n".encode("utf-8", "replace"))
    finally:
        os._exit(status)


def _become(plan: Entry, old_mask: set | None = None) -> NoReturn:
    """Become CMD: the target's user, a clean environment, fds 0-2 only. Never returns."""
    try:
        ident, entry = _credentials(plan)
        env = _environment(plan, entry)
        argv = plan.request.cmd or _default_cmd(entry, plan.request.shell)
        _take_credentials(plan, ident)
        _restore_signals(old_mask)
    except NsscopeError as e:
        _die(str(e), EXIT_CANNOT_ENTER)
    except OSError as e:
        _die(f"cannot take the target's credentials: {e.strerror or e}", EXIT_CANNOT_ENTER)
    # no fd but 0-2 reaches CMD, whatever our own caller left open (the helper's
    # memfd is close-on-exec, and without an fd 3 it reports on stderr)
    helper = plan.helper_fd
    assert helper is not None
    _close_all_but([0, 1, 2, helper])
    try:
        _lookup(argv[0], env.get(b"PATH", b"/bin:/usr/bin"))
    except (FileNotFoundError, NotADirectoryError):
        _die(f"{argv[0]}: command not found", EXIT_NOT_FOUND)
    except OSError as e:
        _die(f"{argv[0]}: cannot execute: {e.strerror}", EXIT_CANNOT_EXECUTE)
    try:
        exeseal.execute(argv, env, fd=helper)
    except OSError as e:
        _die(f"{argv[0]}: cannot start the exec helper: {e.strerror}", EXIT_CANNOT_EXECUTE)


def _lookup(cmd: str, path: bytes) -> None:
    """The checks execvpe(3) would make of ``cmd`` (the exec helper makes the same
    search), so that "not found" and "not executable" get their own message:
    FileNotFoundError, or PermissionError for a file found but not executable."""
    def check(candidate: str) -> None:
        st = os.stat(candidate)  # FileNotFoundError / NotADirectoryError
        if not (st.st_mode & 0o170000 == 0o100000 and os.access(candidate, os.X_OK)):
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), candidate)
    if "/" in cmd:
        check(cmd)
        return
    error: OSError = FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), cmd)
    for d in os.fsdecode(path).split(":"):
        try:
            check(os.path.join(d or ".", cmd))
            return
        except (FileNotFoundError, NotADirectoryError):
            continue
        except OSError as e:
            if isinstance(error, FileNotFoundError):
                error = e
    raise error


def _wait_forwarding(child: int, term: tty.Terminal | None = None) -> int:
    """Wait for CMD, passing on the signals sent to us; its status, or its death.

    Signals are taken synchronously (sigwaitinfo) so that their sender is known:
    one the kernel raised (si_code SI_KERNEL: ^C, ^\\, a window resize from the
    tty) went to CMD too when CMD is in our process group; one sent with kill(2)
    is passed on. With the terminal handed to CMD (``term``), a stopped CMD (^Z)
    gives it back for the while, and its end gives it back for good: owner and
    modes as they were, however CMD ended (nsscope/kernel/tty.py).
    """
    waitset = {*FORWARDED, signal.SIGCHLD}
    status = 0
    try:
        while True:
            info = signal.sigwaitinfo(waitset)
            if info.si_signo == signal.SIGCHLD:
                pid, status = _reap(child, term)
                if pid == child:
                    break
                continue
            if info.si_code == SI_KERNEL and term is None:
                continue
            try:
                os.kill(child, info.si_signo)
            except ProcessLookupError:
                pass
    finally:
        if term is not None:
            tty.take_back(term)
    code = os.waitstatus_to_exitcode(status)
    if code >= 0:
        return code
    return _die_like(-code)


def _reap(child: int, term: tty.Terminal | None) -> tuple[int, int]:
    """(child, its wait status) once it ended; (0, 0) while it runs. A stop (^Z,
    SIGTSTP) is reported only with the terminal handed over, and handled here."""
    while True:
        pid, status = os.waitpid(child, os.WNOHANG | (os.WUNTRACED if term else 0))
        if pid != child or term is None or not os.WIFSTOPPED(status):
            return pid, status
        _stopped(child, term)


def _stopped(child: int, term: tty.Terminal) -> None:
    """CMD stopped (^Z): the terminal goes back to our group, as a shell takes it back
    from a stopped job. Run as a job of its own by a job-control shell, we stop as
    well, so that the shell's `fg` continues us; then CMD gets the terminal and its
    modes back and is continued. Without job control above us (a script, the TUI)
    nobody could continue us: CMD is continued at once (^Z is ignored)."""
    theirs = tty.modes(term)
    tty.take_back(term)
    try:
        job = os.getpgrp() != os.getpgid(os.getppid())
    except OSError:
        job = False
    if job:
        # SIGTSTP's default action stops us (it is not blocked); an orphaned
        # process group discards it (kernel/signal.c, do_signal_stop), and we go on
        os.kill(os.getpid(), signal.SIGTSTP)
    tty.set_modes(term, theirs)
    tty.give(term, child)
    try:
        os.kill(-child, signal.SIGCONT)
    except ProcessLookupError:
        pass


def _die_like(sig: int) -> int:
    """End this process with the signal that ended CMD, so our caller sees the same."""
    # no core file of nsscope for CMD's SIGQUIT/SIGSEGV: a process that is not
    # dumpable dumps no core (core(5))
    syscalls.set_dumpable(False)
    sys.stdout.flush()
    if sig not in (signal.SIGKILL, signal.SIGSTOP):  # their action cannot be set (EINVAL)
        signal.signal(sig, signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {sig})
    os.kill(os.getpid(), sig)
    return 128 + sig  # a signal that does not terminate by default

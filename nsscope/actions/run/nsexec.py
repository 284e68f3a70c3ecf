"""The container's PID 1 (and, with a user namespace, the helper that creates it):
everything between the supervisor's fork and CMD (runc's nsexec and init, in Python).

The supervisor forks them from itself instead of starting a fresh interpreter
(that was a second Python start-up, ~22 ms of every run). Forking is safe
because the supervisor is single-threaded, which ``fork_child`` checks first:
a child of a threaded process inherits the locks other threads held (malloc,
the import lock …) with no thread left to release them, and the helper must
call unshare(CLONE_NEWUSER), which a multithreaded caller cannot (unshare(2),
EINVAL). Everything PID 1 needs is imported before the fork: after
``pivot_root`` the host's standard library is out of reach.

Without a user namespace, PID 1 is the supervisor's own child: the supervisor
unshares the pid and time namespaces (they apply to its next child only),
forks, and sets its ``pid_for_children`` back (``_fork_pid1``). With one, a
helper must stand between them: the user namespace must own the pid and time
namespaces, and unsharing it moves the unsharer itself, which the supervisor
must not be. The helper stays in the host's other namespaces, so it never
shows up as a member of the container's (lsns, nsscope ls), waits for PID 1
and exits with its status.

The conversation with the supervisor, one line each way per step (status:
helper and PID 1 -> supervisor; go: supervisor -> helper, then PID 1)::

    helper:  unshare(CLONE_NEWUSER)               -> "userns"
    supervisor: writes uid_map, setgroups=deny, gid_map   -> "maps"
    helper:  unshare(CLONE_NEWPID|CLONE_NEWTIME), time offsets, fork
                                                  -> "pid <host pid> <start time>"
    PID 1:   setsid, writes "0" into its cgroup files (cgroup.py: it moves
             itself in), unshare(mnt, uts, ipc, net)
             -> "unshared", then waits for "go"   (only with --net bridge: the
                                                   supervisor connects the veth)
    PID 1:   unshare(CLONE_NEWCGROUP), hostname, lo, mounts, pivot_root,
             masks, working directory, capabilities and no_new_privs, user,
             exec of the sealed exec helper (exeseal), which execs CMD
             (the status pipe is its fd 3, close-on-exec for CMD: EOF means
             CMD runs; "exec-error ERRNO" if CMD cannot be exec'd)
    any step: "error <one line>" and exit

Before anything else, each forked child closes every fd it did not get on
purpose: a directory fd its caller left open would give ``-w /proc/self/fd/N``
a working directory on the host (CVE-2024-21626; runc 1.1.12 closes them
before it touches a path). PID 1 is not dumpable until its exec, so no
process of the container can open its /proc/PID/exe (the host interpreter) or
its fds meanwhile (runc's nsexec does the same, PR_SET_DUMPABLE 0), and it
never execs a container's file itself: the exec helper does, from a sealed
memfd (nsscope/exeseal.py, CVE-2019-5736). ``--init`` is that helper's init
mode, so the container's PID 1 is no host binary either.

Each process dies with its parent (PR_SET_PDEATHSIG), so a SIGKILLed
supervisor leaves no container running.

Privileges (without ``--privileged``), docker's defaults: the bounding set cut
to the spec's capabilities (docker's 14), the ambient set cleared, permitted
and effective set to them and inheritable emptied (capset(2)), then
no_new_privs, so that no setuid binary or file capability gives anything back
(capabilities(7): root's execve then yields exactly the bounding set). A
``--user`` that is not root loses permitted and effective at setresuid, as
under docker. Last, just before the exec, docker's default seccomp profile for
that bounding set (seccomp_profile.py; none with ``--security-opt
seccomp=unconfined``).
"""

from __future__ import annotations

import errno
import gc
import os
import sys

from nsscope.kernel import abi, exeseal
from nsscope.kernel import syscalls as sc
from nsscope.errors import NsscopeError
from nsscope.actions.run import init, mounts, net
from nsscope.host.runstate import proc_stat
from nsscope.kernel.syscalls import signals as signal  # _signal: no enum import (syscalls.py)

#: unshared by PID 1's parent (the supervisor, or the helper): they apply to its children
_FOR_CHILDREN = {"pid": abi.CLONE_NEWPID, "time": abi.CLONE_NEWTIME}
#: unshared by PID 1 itself
_OWN = {"mnt": abi.CLONE_NEWNS, "uts": abi.CLONE_NEWUTS, "ipc": abi.CLONE_NEWIPC,
        "net": abi.CLONE_NEWNET}
#: held back around fork(): no Python handler may run in the child before it is set up
_ASYNC_SIGNALS = {signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT,
                  signal.SIGUSR1, signal.SIGUSR2, signal.SIGCHLD, signal.SIGWINCH}


class Channel:
    def __init__(self, status_fd: int, go_fd: int) -> None:
        self.status_fd, self.go_fd = status_fd, go_fd
        self._buf = b""

    def send(self, line: str) -> None:
        # one write below PIPE_BUF is atomic (pipe(7))
        os.write(self.status_fd, (" ".join(line.split("\n")) + "\n").encode()[:4000])

    def receive(self) -> str:
        while b"\n" not in self._buf:
            chunk = os.read(self.go_fd, 4096)
            if not chunk:
                os._exit(1)  # the supervisor is gone; so are we
            self._buf += chunk
        line, _, self._buf = self._buf.partition(b"\n")
        return line.decode()

    def close(self) -> None:
        for fd in (self.status_fd, self.go_fd):
            try:
                os.close(fd)
            except OSError:
                pass


def single_threaded() -> bool:
    """Whether this process runs one thread (the kernel's count, and threading's)."""
    threading = sys.modules.get("threading")
    if threading is not None and threading.active_count() != 1:
        return False
    return sc.thread_count() == 1


def fork_child(body, *args) -> int:
    """fork(); the child runs ``body(*args)`` and never returns into the caller's code,
    whatever it raises. Asynchronous signals are blocked across the fork, so no
    Python handler of the parent (KeyboardInterrupt …) runs in the child before
    ``body``'s own error handling is in place."""
    if not single_threaded():
        raise NsscopeError("nsscope run must fork a single-threaded process, and this one "
                           "runs threads")
    # the cyclic collector writes into every object it visits: after the fork each
    # write copies a shared page. Frozen objects are never visited again (gc.freeze:
    # "for a copy-on-write friendly fork"), and the child collects nothing.
    gc.freeze()
    old = signal.pthread_sigmask(signal.SIG_BLOCK, _ASYNC_SIGNALS)
    try:
        pid = os.fork()
    except BaseException:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)
        raise
    if pid == 0:
        gc.disable()
        code = 1
        try:
            signal.pthread_sigmask(signal.SIG_SETMASK, old)
            code = body(*args)
        except BaseException:  # the body reports its own errors; never unwind into the parent
            pass
        finally:
            os._exit(code if isinstance(code, int) else 1)
    signal.pthread_sigmask(signal.SIG_SETMASK, old)
    return pid


def fork_container(spec: dict, rt: dict, stdio: tuple[int | None, int | None, int | None],
                   attach_fds: list[int]) -> tuple[int, int | None, int, int]:
    """Fork what becomes the container, with ``stdio`` as its fds 0-2 (None: ours).

    Returns our child's pid, PID 1's host pid when the child is PID 1 itself
    (None when a helper reports it later), the read end of the status pipe and
    the write end of the go pipe. Without a user namespace PID 1 is our own
    child (``_fork_pid1``); with one, the helper must create it (module doc)."""
    r_status, w_status = os.pipe()
    r_go, w_go = os.pipe()
    pipes = ((r_status, w_status), (r_go, w_go))
    try:
        if "user" in spec["namespaces"]:
            child = fork_child(_helper_child, spec, rt, stdio, attach_fds, *pipes)
            pid1 = None
        else:
            child = pid1 = _fork_pid1(spec, rt, stdio, attach_fds, pipes)
    except BaseException:
        for fd in (r_status, w_status, r_go, w_go):
            os.close(fd)
        raise
    os.close(w_status)
    os.close(r_go)
    return child, pid1, r_status, w_go


def _fork_pid1(spec: dict, rt: dict, stdio, attach_fds: list[int], pipes) -> int:
    """PID 1 as the supervisor's own child. A new pid or time namespace applies only
    to the children of whoever unshares it (pid_namespaces(7), time_namespaces(7)),
    so unshare, fork, then point our ``pid_for_children``/``time_for_children``
    back at our own namespaces with setns(2): nothing forked later lands in the
    container's. This spares the helper's fork, its work and its exit (~3 ms)."""
    new = spec["namespaces"]
    flags = sum(flag for t, flag in _FOR_CHILDREN.items() if t in new)
    if not flags:
        return fork_child(_pid1_entry, spec, rt, stdio, attach_fds, *pipes)
    own = [(os.open(f"/proc/self/ns/{t}", os.O_RDONLY | os.O_CLOEXEC), flag)
           for t, flag in _FOR_CHILDREN.items() if t in new]
    try:
        sc.unshare(flags)
        pid = 0
        try:
            if "time" in new:
                _write_time_offsets(spec)
            pid = fork_child(_pid1_entry, spec, rt, stdio, attach_fds, *pipes)
        finally:
            try:
                for fd, flag in own:
                    sc.setns(fd, flag)
            except OSError:
                if pid:  # we cannot go on: not with a container we could not account for
                    os.kill(pid, signal.SIGKILL)
                    os.waitpid(pid, 0)
                raise
        return pid
    finally:
        for fd, _ in own:
            os.close(fd)


def _write_time_offsets(spec: dict) -> None:
    # offsets must be set before any process enters the namespace
    # (time_namespaces(7)); our next child is the first
    sc.write_file("/proc/self/timens_offsets", f"monotonic {spec['monotonic_offset']} 0\n"
                                        f"boottime {spec['boottime_offset']} 0\n")


def _pid1_entry(spec: dict, rt: dict, stdio, attach_fds: list[int], status: tuple[int, int],
                go: tuple[int, int]) -> int:
    """PID 1 forked by the supervisor itself (no user namespace)."""
    chan = _child_channel(status, go, stdio, attach_fds)
    try:
        sc.prctl(sc.PR_SET_PDEATHSIG, signal.SIGKILL)
        if _supervisor_gone(chan):
            os._exit(1)  # it died before PR_SET_PDEATHSIG took
        _pid1(spec, rt, chan, attach_fds)
    except BaseException as e:  # anything must reach the supervisor
        chan.send(f"error {_describe(e)}")
    return 1


def _supervisor_gone(chan: Channel) -> bool:
    """Whether the supervisor has died (its end of the go pipe closed: POLLHUP).
    getppid() cannot tell: in a new pid namespace it is 0 (pid_namespaces(7))."""
    return sc.hung_up(chan.go_fd)


def _child_channel(status: tuple[int, int], go: tuple[int, int], stdio,
                   keep: list[int]) -> Channel:
    """In a forked child: drop the supervisor's pipe ends, take ``stdio`` as 0-2, and
    close every other fd but the channel's and ``keep`` (CVE-2024-21626: an fd the
    caller left open must not reach anything the container controls)."""
    os.close(status[0])
    os.close(go[1])
    for target, fd in enumerate(stdio):
        if fd is not None and fd != target:
            os.dup2(fd, target)
    close_all_but([0, 1, 2, status[1], go[0], *keep])
    return Channel(status[1], go[0])


def close_all_but(keep: list[int]) -> None:
    """Close every fd of this process except ``keep`` (close_range(2) under
    os.closerange, on the gaps between them)."""
    low = 0
    for fd in sorted(set(keep)):
        if fd > low:
            os.closerange(low, fd)
        low = max(low, fd + 1)
    os.closerange(low, max(os.sysconf("SC_OPEN_MAX"), 1024))


def _describe(e: BaseException) -> str:
    if isinstance(e, OSError):
        return e.strerror if e.strerror and ":" in e.strerror else (
            f"{e.strerror or e}{': ' + str(e.filename) if e.filename else ''}")
    return f"{type(e).__name__}: {e}"


def _helper_child(spec: dict, rt: dict, stdio, attach_fds: list[int], status: tuple[int, int],
                  go: tuple[int, int]) -> int:
    chan = _child_channel(status, go, stdio, attach_fds)
    try:
        _helper(spec, rt, chan, attach_fds)
    except BaseException as e:  # anything must reach the supervisor
        chan.send(f"error {_describe(e)}")
    return 1


def _helper(spec: dict, rt: dict, chan: Channel, attach_fds: list[int]) -> None:
    # only the supervisor is in the terminal's foreground process group: it
    # forwards ^C to the container (docker's sig-proxy) instead of us dying of it
    os.setpgid(0, 0)
    sc.prctl(sc.PR_SET_PDEATHSIG, signal.SIGKILL)
    if _supervisor_gone(chan):
        os._exit(1)  # it died before PR_SET_PDEATHSIG took
    # a fork of the CLI says "python … nsscope run …" in ps and lsns
    init.set_title("nsscope-nsexec", spec["id"][:12])
    try:
        sc.prctl(sc.PR_SET_NAME, b"nsscope-nsexec")
    except OSError:
        pass
    new = spec["namespaces"]
    if rt["premount"]:
        # a user namespace mapping root elsewhere: its root could not even look
        # up the cache (mode 0700) to mount the overlay, so mount it now, as
        # the caller, in a mount namespace of our own; PID 1's (owned by the
        # user namespace) gets a copy. The helper stays in this one.
        sc.unshare(abi.CLONE_NEWNS)
        mounts.make_private()
        mounts.mount_root(spec, rt, userns=False)
        # the volumes too: their host paths may be out of that root's reach
        mounts.mount_volumes(rt["layers"]["rootfs"], spec["volumes"],
                             nodev=rt["nodev"])
    if "user" in new:
        sc.unshare(abi.CLONE_NEWUSER)
        chan.send("userns")
        if chan.receive() != "maps":
            os._exit(1)
        # root of the new namespace (what the maps made of us)
        os.setresgid(0, 0, 0)
        os.setresuid(0, 0, 0)
        sc.prctl(sc.PR_SET_PDEATHSIG, signal.SIGKILL)  # a credential change clears it
    flags = sum(flag for t, flag in _FOR_CHILDREN.items() if t in new)
    if flags:
        sc.unshare(flags)
    if "time" in new:
        _write_time_offsets(spec)
    pid = fork_child(_pid1_child, spec, rt, chan, attach_fds)
    for fd in attach_fds:
        os.close(fd)
    # PID 1 is our child: it cannot be reaped, nor its pid reused, before we wait
    st = proc_stat(pid)
    chan.send(f"pid {pid} {st[1] if st else '-'}")
    chan.close()
    while True:
        try:
            _, status = os.waitpid(pid, 0)
            break
        except InterruptedError:
            continue
    os._exit(init.exit_code(status))


def _pid1_child(spec: dict, rt: dict, chan: Channel, attach_fds: list[int]) -> int:
    try:
        _pid1(spec, rt, chan, attach_fds)
    except BaseException as e:  # anything must reach the supervisor
        chan.send(f"error {_describe(e)}")
    return 1


def _pid1(spec: dict, rt: dict, chan: Channel, attach_fds: list[int]) -> None:
    new = spec["namespaces"]
    sc.prctl(sc.PR_SET_PDEATHSIG, signal.SIGKILL)  # not inherited across fork
    # until the exec, no process of the container may open our /proc/PID/exe (the
    # host interpreter), fds or memory: ptrace access mode checks fail for a
    # process that is not dumpable (proc(5), ptrace(2)); execve resets it
    sc.set_dumpable(False)
    # a session of its own at once: out of the terminal's foreground process group
    # (^C goes to the supervisor, which forwards it: docker's sig-proxy), and a
    # session leader, as TIOCSCTTY wants for -t
    os.setsid()
    try:
        for fd in attach_fds:
            os.write(fd, b"0")  # "0": the writer itself (cgroup.py, "Placement")
            os.close(fd)
    except OSError as e:
        raise OSError(e.errno, f"cannot move into the container's cgroup: {e.strerror}") \
            from None
    flags = sum(flag for t, flag in _OWN.items() if t in new)
    if flags:
        # owned by our user namespace when there is one (inherited from the helper)
        sc.unshare(flags)
    if rt["wait_go"]:
        chan.send("unshared")
        if chan.receive() != "go":
            os._exit(1)
    if "cgroup" in new:
        # inside /nsscope/<id> already: that becomes our cgroup namespace's root
        # (cgroup_namespaces(7))
        sc.unshare(abi.CLONE_NEWCGROUP)
    if "uts" in new and spec["hostname"]:
        sc.sethostname(spec["hostname"])
    if "net" in new:
        net.loopback_up()
    if "mnt" in new:
        if rt["lower"] is None:
            mounts.setup_host_root(spec)
        else:
            mounts.setup_rootfs(spec, rt)
    if spec["tty"]:
        sc.ioctl(0, abi.TIOCSCTTY, 0)
    _chdir_in_root(spec["workdir"])
    if not spec["privileged"]:
        _drop_privileges(spec["capabilities"], rt["cap_last_cap"])
    if spec["user"]:
        uid, gid = spec["user"]
        if "user" not in new:
            os.setgroups([gid])
        os.setresgid(gid, gid, gid)
        os.setresuid(uid, uid, uid)
        sc.prctl(sc.PR_SET_PDEATHSIG, signal.SIGKILL)  # cleared by the credential change
    # what CMD must not inherit from Python: SIGPIPE and SIGXFSZ ignored, a blocked mask
    for s in (signal.SIGPIPE, signal.SIGXFSZ, signal.SIGINT):
        signal.signal(s, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_SETMASK, set())
    # nor any fd but 0-2 and the status pipe, as the exec helper's fd 3 (it makes
    # it close-on-exec for CMD): not the supervisor's, not its caller's (closed on
    # entry already, CVE-2024-21626)
    if chan.status_fd != exeseal.REPORT_FD:
        os.dup2(chan.status_fd, exeseal.REPORT_FD)  # dup2: not close-on-exec
    else:
        os.set_inheritable(exeseal.REPORT_FD, True)
    close_all_but([0, 1, 2, exeseal.REPORT_FD])
    helper = exeseal.sealed_fd()
    argv = list(spec["command"])
    env = dict(item.split("=", 1) for item in rt["env"])
    if rt["seccomp"] is not None:
        # docker's default profile (seccomp_profile.py), last, as runc loads it: what is
        # left is the execveat of the helper, which it allows, as it allows all the
        # helper does. no_new_privs is set (_drop_privileges), so no CAP_SYS_ADMIN
        # is needed; this process is single-threaded (fork_child), so no TSYNC.
        sc.set_seccomp_filter(rt["seccomp"])
    # the helper execs CMD (PATH search as execvpe), or with --init forks it and
    # stays PID 1: either way no host binary runs in the container (module doc)
    exeseal.execute(argv, env, exeseal.INIT if spec["init"] else exeseal.EXEC, fd=helper)


def _chdir_in_root(workdir: str) -> None:
    """chdir to -w inside the container's root (after pivot_root): resolved with
    openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS), made there if missing; then
    checked reachable from the root (runc's verifyCwd, CVE-2024-21626: getcwd(3)
    fails with ENOENT for a directory outside it)."""
    root_fd = os.open("/", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        fd = mounts.mkdirs_in_root(root_fd, workdir)
    except OSError as e:
        raise OSError(e.errno, f"-w {workdir}: not a directory inside the container: "
                               f"{e.strerror}") from None
    finally:
        os.close(root_fd)
    try:
        os.fchdir(fd)
    finally:
        os.close(fd)
    try:
        cwd = os.getcwd()
    except OSError:
        cwd = ""
    if not cwd.startswith("/"):
        raise OSError(errno.EXDEV, f"-w {workdir}: the working directory is outside the "
                                   "container's root: refusing (CVE-2024-21626)")


def capability_mask(names: list[str] | tuple[str, ...], last_cap: int) -> int:
    """The capabilities named, as a mask, limited to those this kernel has."""
    mask = 0
    for name in names:
        cap = sc.CAP_NAMES.index(name)
        if cap <= last_cap:
            mask |= 1 << cap
    return mask


def _drop_privileges(names: list[str], last_cap: int) -> None:
    """Down to docker's defaults (or --cap-add/--cap-drop's set); see the module doc."""
    keep = capability_mask(names, last_cap)
    for cap in range(last_cap + 1):  # needs CAP_SETPCAP, so before capset
        if not keep & (1 << cap):
            sc.capbset_drop(cap)
    try:
        sc.cap_ambient_clear_all()
    except OSError as e:
        if e.errno != errno.EINVAL:  # no ambient set before Linux 4.3
            raise
    _, permitted, _ = sc.capget()
    sc.capset(permitted & keep, permitted & keep, 0)
    sc.set_no_new_privs()

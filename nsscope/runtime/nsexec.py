"""The helper: a fresh, single-threaded interpreter that creates the namespaces and
becomes the container's PID 1 (runc's nsexec, in Python).

The supervisor fork/execs it (never forks itself into it): ``unshare`` with
CLONE_NEWUSER or CLONE_NEWNS fails with EINVAL in a multithreaded process
(unshare(2)), and a forked copy of a threaded interpreter is not safe to run.
It is started with ``python -I -S`` and imports only what it needs, once,
before ``pivot_root`` takes the host's files away.

The conversation with the supervisor, one line each way per step, over two pipes
(status: helper and PID 1 -> supervisor; go: supervisor -> helper, then PID 1)::

    helper:  unshare(CLONE_NEWUSER)               -> "userns"   (only with --userns)
    supervisor: writes uid_map, setgroups=deny, gid_map   -> "maps"
    helper:  unshare(CLONE_NEWPID|CLONE_NEWTIME), time offsets, fork -> "pid <host pid>"
    PID 1:   unshare(mnt, uts, ipc, net)           -> "unshared"
    supervisor: moves PID 1 into the cgroup (limits already set), connects the veth -> "go"
    PID 1:   unshare(CLONE_NEWCGROUP), mounts, pivot_root, hostname, lo, user, exec CMD
             (the status pipe is close-on-exec: EOF means CMD runs)
    any step: "error <one line>" and exit

PID 1, not the helper, unshares the namespaces that would move the unsharer
itself (a new pid or time namespace is only for the children): the helper stays
in the host's, so it never shows up as a member of the container's namespaces
(lsns, nsscope ls). Only a user namespace must hold it, to own the pid and time
namespaces it creates. The helper then waits for PID 1 and exits with its
status; each process dies with its parent (PR_SET_PDEATHSIG), so a SIGKILLed
supervisor leaves no container running.
"""

from __future__ import annotations

import errno
import fcntl
import marshal
import os
import signal
import sys
import termios

from nsscope import syscalls as sc
from nsscope.runtime import init, mounts, net

#: unshared by the helper: they only apply to its children
_FOR_CHILDREN = {"pid": sc.CLONE_NEWPID, "time": sc.CLONE_NEWTIME}
#: unshared by PID 1 itself
_OWN = {"mnt": sc.CLONE_NEWNS, "uts": sc.CLONE_NEWUTS, "ipc": sc.CLONE_NEWIPC,
        "net": sc.CLONE_NEWNET}


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


def _describe(e: BaseException) -> str:
    if isinstance(e, OSError):
        return e.strerror if e.strerror and ":" in e.strerror else (
            f"{e.strerror or e}{': ' + str(e.filename) if e.filename else ''}")
    return f"{type(e).__name__}: {e}"


def main() -> None:
    status_fd, go_fd, spec_fd, ppid = (int(a) for a in sys.argv[1:5])
    # only the supervisor is in the terminal's foreground process group: it
    # forwards ^C to the container (docker's sig-proxy) instead of us dying of it
    os.setpgid(0, 0)
    sc.prctl(sc.PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != ppid:
        os._exit(1)  # the supervisor died before PR_SET_PDEATHSIG took
    for fd in (status_fd, go_fd):
        os.set_inheritable(fd, False)  # CMD must not inherit them
    with os.fdopen(spec_fd, "rb") as f:
        spec, rt = marshal.loads(f.read())
    # "python -I -S -c <boot code> …" says little in ps and lsns
    init.set_title("nsscope-nsexec", spec["id"][:12])
    try:
        sc.prctl(sc.PR_SET_NAME, b"nsscope-nsexec")
    except OSError:
        pass
    chan = Channel(status_fd, go_fd)
    new = spec["namespaces"]
    try:
        if rt["premount"]:
            # a user namespace mapping root elsewhere: its root could not even look
            # up the cache (mode 0700) to mount the overlay, so mount it now, as
            # the caller, in a mount namespace of our own; PID 1's (owned by the
            # user namespace) gets a copy. The helper stays in this one.
            sc.unshare(sc.CLONE_NEWNS)
            mounts.make_private()
            mounts.mount_root(spec, rt, userns=False)
            # the volumes too: their host paths may be out of that root's reach
            mounts.mount_volumes(rt["layers"]["rootfs"], spec["volumes"])
        if "user" in new:
            sc.unshare(sc.CLONE_NEWUSER)
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
            # offsets must be set before any process enters the namespace
            # (time_namespaces(7)); our next child is the first
            _write("/proc/self/timens_offsets",
                   f"monotonic {spec['monotonic_offset']} 0\n"
                   f"boottime {spec['boottime_offset']} 0\n")
        pid = os.fork()
    except OSError as e:
        chan.send(f"error {_describe(e)}")
        os._exit(1)
    if pid == 0:
        try:
            _pid1(spec, rt, chan)
        except BaseException as e:  # anything must reach the supervisor
            try:
                chan.send(f"error {_describe(e)}")
            finally:
                os._exit(1)
    chan.send(f"pid {pid}")
    chan.close()
    while True:
        try:
            _, status = os.waitpid(pid, 0)
            break
        except InterruptedError:
            continue
    os._exit(init.exit_code(status))


def _write(path: str, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
    try:
        os.write(fd, text.encode())
    finally:
        os.close(fd)


def _execvpe(argv: list[str], env: dict[str, str]) -> None:
    """execvpe(3) with the container's PATH. Not os.execvpe: it imports ``warnings``
    lazily, and after pivot_root the host's standard library is out of reach."""
    cmd = argv[0]
    if "/" in cmd:
        os.execve(cmd, argv, env)
    error: OSError = FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), cmd)
    for d in env.get("PATH", "").split(":"):
        try:
            os.execve(os.path.join(d or ".", cmd), argv, env)
        except (FileNotFoundError, NotADirectoryError):
            continue
        except OSError as e:  # EACCES and the like: remembered, the search goes on
            error = e
    raise error


def _pid1(spec: dict, rt: dict, chan: Channel) -> None:
    new = spec["namespaces"]
    sc.prctl(sc.PR_SET_PDEATHSIG, signal.SIGKILL)  # not inherited across fork
    flags = sum(flag for t, flag in _OWN.items() if t in new)
    if flags:
        # owned by our user namespace when there is one (inherited from the helper)
        sc.unshare(flags)
    chan.send("unshared")
    if chan.receive() != "go":
        os._exit(1)
    if "cgroup" in new:
        # after the supervisor moved us into /nsscope/<id>: that becomes our
        # cgroup namespace's root (cgroup_namespaces(7))
        sc.unshare(sc.CLONE_NEWCGROUP)
    if "uts" in new and spec["hostname"]:
        sc.sethostname(spec["hostname"])
    if "net" in new:
        net.loopback_up()
    if "mnt" in new:
        if rt["lower"] is None:
            mounts.setup_host_root(spec)
        else:
            mounts.setup_rootfs(spec, rt)
    os.setsid()
    if spec["tty"]:
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)
    workdir = spec["workdir"]
    try:
        os.chdir(workdir)
    except FileNotFoundError:
        os.makedirs(workdir, 0o755)
        os.chdir(workdir)
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
    argv = list(spec["command"])
    env = dict(item.split("=", 1) for item in rt["env"])

    def exec_cmd() -> None:
        try:
            _execvpe(argv, env)
        except OSError as e:
            chan.send(f"exec-error {e.errno} cannot run {argv[0]!r} in the container: "
                      f"{e.strerror}")
            os._exit(127 if e.errno in (errno.ENOENT, errno.ENOTDIR) else 126)

    if spec["init"]:
        init.run(argv, exec_cmd, tty=spec["tty"], subreaper="pid" not in new, after_fork=chan.close)
    exec_cmd()

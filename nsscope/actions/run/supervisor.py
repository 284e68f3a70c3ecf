"""The parent side of a run: prepare, start the helper, wait, clean up.

The supervisor is the ``nsscope run`` process itself in the foreground, or,
with ``-d``, a monitor process it forks into a session of its own (like
conmon). Either way it:

1. prepares what needs no process: the rootfs (caches), the state directory,
   the name, the cgroup with its limits and device rules, the overlay directories;
2. forks PID 1 (or, with a user namespace, the helper that forks it: nsexec),
   handing it open cgroup files PID 1 moves itself in with, and answers it:
   writes the user namespace maps, connects the veth, says "go";
3. waits for its child (PID 1, or the helper, which exits with PID 1's status),
   forwarding signals in the foreground (SIGINT, SIGTERM … go to PID 1, like
   docker's sig-proxy);
4. removes the cgroup (killing whatever outlived PID 1 when the pid namespace
   is shared), and records the end, or with ``--rm`` removes the whole state.

Any failure before CMD runs undoes steps 1-2 and raises one NsscopeError line.
Nothing here starts a thread: PID 1, the helper and the monitor are forks of
this process (nsexec.fork_child checks it).
"""

from __future__ import annotations

import errno
import os
import time

from nsscope.errors import NsscopeError
from nsscope.actions.run import nsexec, rootfs, state
from nsscope.host import runstate
from nsscope.actions.run.cgroup import CGROUP_ROOT, ContainerCgroup, write_file
from nsscope.actions.run.init import exit_code
from nsscope.actions.run.spec import Spec, container_env
from nsscope.kernel.abi import PROC
from nsscope.kernel.syscalls import signals as signal  # _signal: no enum import (syscalls.py)

#: stdin/stdout/stderr argument of ``start``: /dev/null
DEVNULL = -3
#: signals the foreground supervisor passes on to the container's PID 1
FORWARDED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1,
             signal.SIGUSR2)


class ExecFailed(NsscopeError):
    """CMD could not be executed in the container (127: not found, 126: not runnable)."""

    def __init__(self, msg: str, code: int) -> None:
        super().__init__(msg)
        self.exit_code = code


def _pidfd_signal(pidfd: int, sig: int) -> None:
    from nsscope.kernel import syscalls
    try:
        syscalls.pidfd_send_signal(pidfd, sig)
    except ProcessLookupError:
        pass
    except OSError as e:
        if e.errno != errno.ESRCH:
            raise


class _Lines:
    """Line reader over a pipe (the helper's status messages)."""

    def __init__(self, fd: int) -> None:
        self.fd, self.buf = fd, b""

    def readline(self) -> str | None:
        while b"\n" not in self.buf:
            chunk = os.read(self.fd, 4096)
            if not chunk:
                return None
            self.buf += chunk
        line, _, self.buf = self.buf.partition(b"\n")
        return line.decode("utf-8", "replace")


class Supervisor:
    def __init__(self, spec: Spec, run_dir: str = runstate.RUN_DIR,
                 cgroup_root: str = CGROUP_ROOT, proc: str = PROC,
                 cache_dir: str = rootfs.CACHE_DIR) -> None:
        self.spec = spec
        self.run_dir, self.cgroup_root, self.proc, self.cache_dir = (run_dir, cgroup_root, proc,
                                                                     cache_dir)
        self.dir = runstate.container_dir(spec.id, run_dir)
        self.cgroup: ContainerCgroup | None = None
        self.lower: str | None = None
        self.layers: dict[str, str] = {}
        #: our child: the helper with a user namespace, else PID 1 itself (nsexec);
        #: its pid cannot be reused before we reap it
        self.helper: int | None = None
        self.pid: int | None = None
        self.pidfd: int | None = None
        self.address: str | None = None
        self._name_taken = False
        #: what state.json holds (``save``)
        self.record: dict = {}

    # --- 1. prepare -------------------------------------------------------------

    def prepare(self) -> None:
        spec = self.spec
        self.lower = rootfs.resolve(spec.rootfs_kind, spec.rootfs, spec.image, self.cache_dir,
                                    self.run_dir)
        # 0711: a user namespace's root (mapped to another uid) must traverse it
        os.makedirs(runstate.containers_dir(self.run_dir), mode=0o711, exist_ok=True)
        os.mkdir(self.dir, 0o700)
        try:
            me = runstate.proc_stat(os.getpid(), self.proc)
            state.write_json(os.path.join(self.dir, "config.json"), spec.to_dict())
            self.record = {
                "id": spec.id, "name": spec.name, "status": runstate.CREATING, "pid": None,
                "starttime": None, "monitor_pid": os.getpid(),
                "monitor_starttime": me[1] if me else None, "created": time.time(),
                "cgroup": f"{runstate.CGROUP_PARENT}/{spec.id}", "rootfs": self.lower or "",
                "command": list(spec.command), "detach": spec.detach, "remove": spec.remove,
                "exit_code": None}
            self.save()
            state.reserve_name(spec.name, spec.id, self.run_dir)
            self._name_taken = True
            self.cgroup = ContainerCgroup(spec.id, self.cgroup_root, self.proc, spec.limits)
            self.cgroup.create(spec.limits, device_rules=not spec.privileged)
            if self.lower is not None:
                owner = self._mapped_root()
                self.layers = rootfs.make_layers(self.dir, owner)
                if owner is not None:
                    # as docker's userns-remap: only the mapped root's group may
                    # traverse into the state dir (PID 1 binds the root found there)
                    os.chown(self.dir, 0, owner[1])
                    os.chmod(self.dir, 0o710)
        except BaseException:
            self.destroy()
            raise

    def save(self, **changes) -> None:
        """Update state.json. The supervisor is its only writer while it lives, so it
        keeps the record in memory instead of reading the file back."""
        self.record.update(changes)
        state.write_json(os.path.join(self.dir, "state.json"), self.record)

    def _mapped_root(self) -> tuple[int, int] | None:
        """The host uid/gid of the container's root when a user namespace maps it."""
        if not self.spec.new("user"):
            return None
        uid = next((out for inner, out, n in self.spec.uid_map if inner == 0), None)
        gid = next((out for inner, out, n in self.spec.gid_map if inner == 0), None)
        if uid is None or gid is None or (uid, gid) == (os.getuid(), os.getgid()):
            return None
        return uid, gid

    # --- 2. start ---------------------------------------------------------------

    def runtime_info(self) -> dict:
        """What the helper needs besides the spec (computed here, before the fork)."""
        from nsscope.kernel import syscalls
        cg_mounts = []
        joined = self.cgroup.joined if self.cgroup else ()
        for h in joined:
            # only the hierarchies PID 1 is in: in the others its cgroup namespace's
            # root would be the caller's cgroup, a view of the host's tree
            if h.version == 2:
                name = "" if len(self.cgroup.hierarchies) == 1 else os.path.basename(  # type: ignore[union-attr]
                    h.mountpoint)
                cg_mounts.append((name, "cgroup2", ""))
            else:
                cg_mounts.append((os.path.basename(h.mountpoint), "cgroup", h.key))
        gid5 = True
        if self.spec.new("user"):
            gid5 = any(inner <= 5 < inner + n for inner, _, n in self.spec.gid_map)
        seccomp = None
        if self.spec.seccomp != "unconfined":
            from nsscope.actions.run import seccomp_filter
            uname = os.uname()
            seccomp = seccomp_filter.program_for(self.spec.capabilities or (), uname.machine,
                                                 uname.release)
        return {"lower": self.lower, "layers": self.layers, "cgroup_mounts": cg_mounts,
                # the BPF program PID 1 loads just before the exec (nsexec), or None
                "seccomp": seccomp,
                "env": container_env(self.spec), "tty_gid_mapped": gid5,
                "premount": self.lower is not None and self._mapped_root() is not None,
                "cap_last_cap": syscalls.cap_last_cap(self.proc),
                # no devices cgroup to refuse the nodes CAP_MKNOD makes (mounts.py)
                "nodev": not self.spec.privileged and not (
                    self.cgroup is not None and self.cgroup.device_rules),
                # PID 1 waits for the supervisor only to be wired to the bridge
                "wait_go": self.spec.net == "bridge"}

    def start(self, stdin=None, stdout=None, stderr=None) -> None:
        """Fork the helper and see it through to CMD's exec (NsscopeError otherwise).
        ``stdin``/``stdout``/``stderr``: fds for the container, DEVNULL, or None (ours)."""
        try:
            self._start(stdin, stdout, stderr)
        except BaseException:
            self._abort()
            raise

    def _start(self, stdin, stdout, stderr) -> None:
        assert self.cgroup is not None
        devnull = None
        if DEVNULL in (stdin, stdout, stderr):
            devnull = os.open(os.devnull, os.O_RDWR | os.O_CLOEXEC)
        stdio = tuple(devnull if fd == DEVNULL else fd for fd in (stdin, stdout, stderr))
        attach = self.cgroup.open_attach()
        try:
            self.helper, pid1, r_status, w_go = nsexec.fork_container(
                self.spec.to_dict(), self.runtime_info(), stdio, attach)  # type: ignore[arg-type]
        finally:
            for fd in attach:
                os.close(fd)
            if devnull is not None:
                os.close(devnull)
        try:
            starttime = None
            if pid1 is not None:  # our child is PID 1 itself: not reaped before we wait
                self.pid, self.pidfd = pid1, os.pidfd_open(pid1)
                st = runstate.proc_stat(pid1, self.proc)
                starttime = st[1] if st else None
            self._converse(_Lines(r_status), w_go, starttime)
        finally:
            os.close(r_status)
            os.close(w_go)

    def _converse(self, lines: _Lines, w_go: int, starttime: int | None) -> None:
        assert self.helper is not None and self.cgroup is not None
        unshared = False  # PID 1 unshared its namespaces (the messages come in any order)
        while True:
            line = lines.readline()
            if line is None:
                break
            kind, _, rest = line.partition(" ")
            if kind == "userns":
                self._write_maps(self.helper)
                os.write(w_go, b"maps\n")
            elif kind == "pid":
                pid, _, start = rest.partition(" ")
                self.pid = int(pid)
                starttime = int(start) if start.isdigit() else None
                self.pidfd = os.pidfd_open(self.pid)
            elif kind == "unshared":
                unshared = True
            elif kind == "error":
                raise NsscopeError(rest)
            elif kind == "exec-error":
                # from the exec helper (nsscope/exeseal.c): "exec-error ERRNO"
                err, _, msg = rest.partition(" ")
                code = int(err) if err.isdigit() else errno.EINVAL
                argv0 = self.spec.command[0] if self.spec.command else "?"
                raise ExecFailed(msg or f"cannot run {argv0!r} in the container: "
                                        f"{os.strerror(code)}",
                                 127 if code in (errno.ENOENT, errno.ENOTDIR) else 126)
            if self.pid is not None and unshared:
                unshared = False
                self._connect()  # --net bridge: PID 1 waits for it
                os.write(w_go, b"go\n")
        if self.pid is None:
            code = exit_code(os.waitpid(self.helper, 0)[1])
            self.helper = None
            raise NsscopeError(f"the container's helper exited ({code}) before starting it")
        # EOF: the pipe is close-on-exec in PID 1 (and in CMD with --init): CMD runs
        self.save(status=runstate.RUNNING, pid=self.pid, starttime=starttime, started=time.time())

    def _write_maps(self, pid: int) -> None:
        def fmt(m):
            return "".join(f"{inner} {out} {n}\n" for inner, out, n in m)
        try:
            write_file(f"/proc/{pid}/uid_map", fmt(self.spec.uid_map))
            # setgroups must be denied before gid_map is written by an unprivileged
            # writer; doing it always keeps the namespace the same either way
            # (user_namespaces(7), "The /proc/[pid]/setgroups file")
            write_file(f"/proc/{pid}/setgroups", "deny")
            write_file(f"/proc/{pid}/gid_map", fmt(self.spec.gid_map))
        except OSError as e:
            raise NsscopeError(f"the kernel refused the user namespace map: {e.strerror}") \
                from None

    def _connect(self) -> None:
        """--net bridge: pick an address (under a lock: concurrent runs) and wire it."""
        from nsscope.actions.run import net
        assert self.pid is not None
        lock = os.open(os.path.join(self.run_dir, "net.lock"),
                       os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            import fcntl  # --net bridge only: not on every run's way (its import is a dlopen)
            fcntl.flock(lock, fcntl.LOCK_EX)
            taken = set()
            for c in runstate.list_containers(self.run_dir, self.proc):
                st = runstate.read_json(os.path.join(c.dir, "state.json")) or {}
                if st.get("address") and c.status != runstate.STOPPED:
                    taken.add(st["address"])
            self.address = net.pick_address(taken)
            self.save(address=self.address)
            net.connect(self.spec.id, self.pid, self.address)  # the bridge once, under the lock
        finally:
            os.close(lock)

    def _abort(self) -> None:
        """Undo a start that failed: kill the helper (PID 1 dies with it), remove all."""
        if self.helper is not None:
            os.kill(self.helper, signal.SIGKILL)
            os.waitpid(self.helper, 0)
            self.helper = None
        self.destroy()

    # --- 3. wait ------------------------------------------------------------------

    def wait(self) -> int:
        """Wait for the helper (PID 1's status), forwarding signals to PID 1."""
        assert self.helper is not None
        old = {}

        def forward(signum, _frame):
            if self.pidfd is not None:
                _pidfd_signal(self.pidfd, signum)

        for s in FORWARDED:
            old[s] = signal.signal(s, forward)
        try:
            _, status = os.waitpid(self.helper, 0)  # PEP 475: retried after each handler
            self.helper = None
        finally:
            for s, h in old.items():
                signal.signal(s, h)
        return exit_code(status)

    def wait_tty(self, master: int) -> int:
        """-t: relay between our terminal and the container's, until the helper exits."""
        assert self.helper is not None
        # -t only: not imported on every run's way (each is a shared library to load)
        import fcntl
        import select
        import termios
        import tty
        stdin_tty = os.isatty(0)
        saved = termios.tcgetattr(0) if stdin_tty else None

        def resize(*_):
            if stdin_tty:
                fcntl.ioctl(master, termios.TIOCSWINSZ,
                            fcntl.ioctl(0, termios.TIOCGWINSZ, b"\0" * 8))

        def forward(signum, _frame):
            if self.pidfd is not None:
                _pidfd_signal(self.pidfd, signum)

        old = {s: signal.signal(s, forward) for s in (signal.SIGTERM, signal.SIGHUP)}
        old[signal.SIGWINCH] = signal.signal(signal.SIGWINCH, resize)
        resize()
        helper_fd = os.pidfd_open(self.helper)
        try:
            if stdin_tty:
                tty.setraw(0)
            watch = [master, helper_fd] + ([0] if self.spec.interactive else [])
            while True:
                ready, _, _ = select.select(watch, [], [])
                if master in ready and not self._copy(master, 1):
                    watch.remove(master)  # EIO: every slave fd is closed
                if 0 in ready and not self._copy(0, master):
                    watch.remove(0)
                if helper_fd in ready:
                    # the container is gone: what it wrote last, then stop
                    while master in watch and select.select([master], [], [], 0.05)[0] \
                            and self._copy(master, 1):
                        pass
                    break
        finally:
            if saved is not None:
                termios.tcsetattr(0, termios.TCSADRAIN, saved)
            for s, h in old.items():
                signal.signal(s, h)
            os.close(helper_fd)
        return self.wait()

    @staticmethod
    def _copy(src: int, dst: int) -> bool:
        """One read from ``src`` written to ``dst``; False at EOF (or EIO of a pty master)."""
        try:
            data = os.read(src, 65536)
        except OSError:
            return False
        if data:
            os.write(dst, data)
        return bool(data)

    # --- 4. the end -----------------------------------------------------------------

    def finish(self, code: int | None) -> list[str]:
        """After PID 1 is gone: empty and remove the cgroup, record the end (or, with
        --rm, remove everything). Returns what could not be removed."""
        left: list[str] = []
        if self.pidfd is not None:
            os.close(self.pidfd)
            self.pidfd = None
        if self.cgroup is not None:
            if self.cgroup.procs():
                # survivors of PID 1 (a shared pid namespace has no kernel cleanup)
                self.cgroup.kill_all()
            left = self.cgroup.remove()
        if self.spec.net == "bridge":
            from nsscope.actions.run import net
            net.disconnect(self.spec.id)
        if self.spec.remove:
            self._remove_files()
        else:
            self.save(status=runstate.STOPPED, exit_code=code, finished=time.time(),
                      leftover=left or None)
        return left

    def destroy(self) -> None:
        """Remove everything this run created (a failed run leaves nothing behind)."""
        if self.pidfd is not None:
            os.close(self.pidfd)
            self.pidfd = None
        if self.cgroup is not None:
            if self.cgroup.exists():
                self.cgroup.kill_all()
            self.cgroup.remove()
        self._remove_files()

    def _remove_files(self) -> None:
        if self._name_taken:
            state.release_name(self.spec.name, self.spec.id, self.run_dir)
        state.remove_tree(self.dir)


# --- the detached monitor --------------------------------------------------------

def start_detached(sup: Supervisor) -> None:
    """-d: fork a monitor (in a session of its own, like conmon) that starts the
    prepared container, reports, then supervises it; wait for its report."""
    r, w = os.pipe()
    try:
        monitor = nsexec.fork_child(_monitor, sup, r, w)
    except BaseException:
        os.close(r)
        os.close(w)
        sup.destroy()
        raise
    os.close(w)
    try:
        reply = _Lines(r).readline()
    finally:
        os.close(r)
    if reply == "ok":
        return
    os.waitpid(monitor, 0)  # it exits after an error
    if reply is None:
        sup.destroy()
        raise NsscopeError("the container's monitor died before starting it")
    _, _, rest = reply.partition(" ")  # "error <exit code> <message>"
    code, _, msg = rest.partition(" ")
    err = NsscopeError(msg)
    err.exit_code = int(code)
    raise err


def _monitor(sup: Supervisor, r: int, report_fd: int) -> int:
    """The -d monitor (a fork of the CLI, which exits once it reports): start the
    container with its output in ``log``, report "ok" or the error, then wait and
    record the end. Its stdio is /dev/null: whoever reads the CLI's output gets EOF
    when the CLI exits."""
    os.close(r)
    # fork_child turned the cyclic collector off, for the short-lived children;
    # the monitor lives as long as the container
    import gc
    gc.enable()
    # a fork of the CLI says "python … nsscope run -d …" in ps: say what it is
    from nsscope.kernel import syscalls
    from nsscope.actions.run.init import set_title
    set_title("nsscope-monitor", sup.spec.short_id)
    try:
        syscalls.prctl(syscalls.PR_SET_NAME, b"nsscope-monitor")
    except OSError:
        pass
    null = os.open(os.devnull, os.O_RDWR | os.O_CLOEXEC)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    os.close(null)
    os.setsid()
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    try:
        me = runstate.proc_stat(os.getpid(), sup.proc)
        sup.save(monitor_pid=os.getpid(), monitor_starttime=me[1] if me else None)
        log = os.open(os.path.join(sup.dir, "log"),
                      os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600)
        try:
            sup.start(stdin=DEVNULL, stdout=log, stderr=log)
        finally:
            os.close(log)
    except NsscopeError as e:
        os.write(report_fd, f"error {e.exit_code} {e}\n".encode())
        return e.exit_code
    except BaseException as e:  # the CLI must hear of it
        os.write(report_fd, f"error 1 {type(e).__name__}: {e}\n".encode())
        return 1
    os.write(report_fd, b"ok\n")
    os.close(report_fd)
    code = sup.wait()
    sup.finish(code)
    return 0

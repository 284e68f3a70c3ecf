"""The parent side of a run: prepare, start the helper, wait, clean up.

The supervisor is the ``nsscope run`` process itself in the foreground, or,
with ``-d``, a monitor process it starts in a session of its own (like
conmon). Either way it:

1. prepares what needs no process: the rootfs (caches), the state directory,
   the name, the cgroup with its limits, the overlay directories;
2. fork/execs the helper (``nsexec``) and answers it: writes the user
   namespace maps, moves PID 1 into the cgroup, connects the veth, says "go";
3. waits for the helper (which exits with PID 1's status), forwarding signals
   in the foreground (SIGINT, SIGTERM … go to PID 1, like docker's sig-proxy);
4. removes the cgroup (killing whatever outlived PID 1 when the pid namespace
   is shared), and records the end, or with ``--rm`` removes the whole state.

Any failure before CMD runs undoes steps 1-2 and raises one NsscopeError line.
"""

from __future__ import annotations

import errno
import fcntl
import marshal
import os
import select
import signal
import sys
import time

import nsscope
from nsscope import cgroups
from nsscope.errors import NsscopeError
from nsscope.processes import PROC
from nsscope.runtime import rootfs, state
from nsscope.runtime.cgroup import ContainerCgroup, write_file
from nsscope.runtime.init import exit_code
from nsscope.runtime.spec import Spec, container_env

_PKG_PARENT = os.path.dirname(os.path.dirname(os.path.abspath(nsscope.__file__)))
#: the helper's entry: a fresh interpreter, no site (no .pth files, no user site)
_HELPER_BOOT = (f"import sys; sys.path.insert(0, {_PKG_PARENT!r}); "
                "from nsscope.runtime.nsexec import main; main()")
_MONITOR_BOOT = (f"import sys; sys.path.insert(0, {_PKG_PARENT!r}); "
                 "from nsscope.runtime.supervisor import monitor_main; monitor_main()")
#: stdin/stdout/stderr argument of ``spawn``: /dev/null
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
    from nsscope import syscalls
    try:
        syscalls.pidfd_send_signal(pidfd, sig)
    except ProcessLookupError:
        pass
    except OSError as e:
        if e.errno != errno.ESRCH:
            raise


def spawn(argv: list[str], keep_fds: tuple[int, ...] = (), stdin: int | None = None,
          stdout: int | None = None, stderr: int | None = None, setsid: bool = False) -> int:
    """posix_spawn ``argv`` (fork+exec without running Python in the child, safe in a
    threaded process; cheaper to import than subprocess). ``keep_fds`` are inherited
    under the same numbers; every other fd is close-on-exec already (PEP 446)."""
    actions = []
    opened = []
    for target, given in ((0, stdin), (1, stdout), (2, stderr)):
        if given is None:
            continue
        src = given
        if given == DEVNULL:
            src = os.open(os.devnull, os.O_RDWR | os.O_CLOEXEC)
            opened.append(src)
        actions.append((os.POSIX_SPAWN_DUP2, src, target))
    for fd in keep_fds:
        os.set_inheritable(fd, True)
    env = {"PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")}
    try:
        return os.posix_spawn(argv[0], argv, env, file_actions=actions, setsid=setsid)
    finally:
        for fd in opened:
            os.close(fd)
        for fd in keep_fds:
            os.set_inheritable(fd, False)


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
    def __init__(self, spec: Spec, run_dir: str = state.RUN_DIR,
                 cgroup_root: str = cgroups.CGROUP_ROOT, proc: str = PROC,
                 cache_dir: str = rootfs.CACHE_DIR) -> None:
        self.spec = spec
        self.run_dir, self.cgroup_root, self.proc, self.cache_dir = (run_dir, cgroup_root, proc,
                                                                     cache_dir)
        self.dir = state.container_dir(spec.id, run_dir)
        self.cgroup: ContainerCgroup | None = None
        self.lower: str | None = None
        self.layers: dict[str, str] = {}
        #: pid of the helper (our child: its pid cannot be reused before we reap it)
        self.helper: int | None = None
        self.pid: int | None = None
        self.pidfd: int | None = None
        self.address: str | None = None
        self._name_taken = False

    # --- 1. prepare -------------------------------------------------------------

    def prepare(self) -> None:
        spec = self.spec
        self.lower = rootfs.resolve(spec.rootfs_kind, spec.rootfs, spec.image, self.cache_dir,
                                    self.run_dir)
        # 0711: a user namespace's root (mapped to another uid) must traverse it
        os.makedirs(state.containers_dir(self.run_dir), mode=0o711, exist_ok=True)
        os.mkdir(self.dir, 0o700)
        try:
            me = state.proc_stat(os.getpid(), self.proc)
            state.write_json(os.path.join(self.dir, "config.json"), spec.to_dict())
            state.write_json(os.path.join(self.dir, "state.json"), {
                "id": spec.id, "name": spec.name, "status": state.CREATING, "pid": None,
                "starttime": None, "monitor_pid": os.getpid(),
                "monitor_starttime": me[1] if me else None, "created": time.time(),
                "cgroup": f"{state.CGROUP_PARENT}/{spec.id}", "rootfs": self.lower or "",
                "command": list(spec.command), "detach": spec.detach, "remove": spec.remove,
                "exit_code": None})
            state.reserve_name(spec.name, spec.id, self.run_dir)
            self._name_taken = True
            self.cgroup = ContainerCgroup(spec.id, self.cgroup_root, self.proc)
            self.cgroup.create(spec.limits)
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
        """What the helper needs besides the spec (computed here, where imports are cheap)."""
        cg_mounts = []
        hs = self.cgroup.hierarchies if self.cgroup else ()
        for h in hs:
            if h.version == 2:
                name = "" if len(hs) == 1 else os.path.basename(h.mountpoint)
                cg_mounts.append((name, "cgroup2", ""))
            else:
                cg_mounts.append((os.path.basename(h.mountpoint), "cgroup", h.key))
        gid5 = True
        if self.spec.new("user"):
            gid5 = any(inner <= 5 < inner + n for inner, _, n in self.spec.gid_map)
        return {"lower": self.lower, "layers": self.layers, "cgroup_mounts": cg_mounts,
                "env": container_env(self.spec), "tty_gid_mapped": gid5,
                "premount": self.lower is not None and self._mapped_root() is not None}

    def start(self, stdin=None, stdout=None, stderr=None) -> None:
        """Spawn the helper and see it through to CMD's exec (NsscopeError otherwise)."""
        try:
            self._start(stdin, stdout, stderr)
        except BaseException:
            self._abort()
            raise

    def _start(self, stdin, stdout, stderr) -> None:
        r_status, w_status = os.pipe()
        r_go, w_go = os.pipe()
        r_spec, w_spec = os.pipe()
        try:
            self.helper = spawn(
                [sys.executable, "-I", "-S", "-c", _HELPER_BOOT, str(w_status), str(r_go),
                 str(r_spec), str(os.getpid())],
                keep_fds=(w_status, r_go, r_spec), stdin=stdin, stdout=stdout, stderr=stderr)
        finally:
            for fd in (w_status, r_go, r_spec):
                os.close(fd)
        try:
            payload = marshal.dumps((self.spec.to_dict(), self.runtime_info()))
            try:
                os.write(w_spec, payload)
            finally:
                os.close(w_spec)
            self._converse(_Lines(r_status), w_go)
        finally:
            os.close(r_status)
            os.close(w_go)

    def _converse(self, lines: _Lines, w_go: int) -> None:
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
                self.pid = int(rest)
                self.pidfd = os.pidfd_open(self.pid)
            elif kind == "unshared":
                unshared = True
            elif kind == "error":
                raise NsscopeError(rest)
            elif kind == "exec-error":
                err, _, msg = rest.partition(" ")
                raise ExecFailed(msg, 127 if int(err) in (errno.ENOENT, errno.ENOTDIR) else 126)
            if self.pid is not None and unshared:
                unshared = False
                self._place(w_go)
        if self.pid is None:
            code = exit_code(os.waitpid(self.helper, 0)[1])
            self.helper = None
            raise NsscopeError(f"the container's helper exited ({code}) before starting it")
        # EOF: the pipe is close-on-exec in PID 1 (and in CMD with --init): CMD runs
        state.update_state(self.dir, status=state.RUNNING, started=time.time())

    def _place(self, w_go: int) -> None:
        """PID 1 exists in its namespaces: into the cgroup, onto the bridge, then go."""
        assert self.pid is not None and self.cgroup is not None
        st = state.proc_stat(self.pid, self.proc)
        self.cgroup.attach(self.pid)
        if self.spec.net == "bridge":
            self._connect()
        state.update_state(self.dir, pid=self.pid, starttime=st[1] if st else None)
        os.write(w_go, b"go\n")

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
        from nsscope.runtime import net
        assert self.pid is not None
        lock = os.open(os.path.join(self.run_dir, "net.lock"),
                       os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(lock, fcntl.LOCK_EX)
            taken = set()
            for c in state.list_containers(self.run_dir, self.proc):
                st = state.read_json(os.path.join(c.dir, "state.json")) or {}
                if st.get("address") and c.status != state.STOPPED:
                    taken.add(st["address"])
            self.address = net.pick_address(taken)
            state.update_state(self.dir, address=self.address)
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
        if self.spec.remove:
            self._remove_files()
        else:
            state.update_state(self.dir, status=state.STOPPED, exit_code=code,
                               finished=time.time(), leftover=left or None)
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
        import shutil
        shutil.rmtree(self.dir, ignore_errors=True)


# --- the detached monitor --------------------------------------------------------

def start_detached(sup: Supervisor) -> None:
    """-d: hand the prepared container to a monitor process and wait for its verdict."""
    r, w = os.pipe()
    try:
        monitor = spawn([sys.executable, "-I", "-S", "-c", _MONITOR_BOOT, sup.dir, str(w)],
                        keep_fds=(w,), stdin=DEVNULL, stdout=DEVNULL, stderr=DEVNULL,
                        setsid=True)
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
    if reply is None:
        os.waitpid(monitor, 0)
        sup.destroy()
        raise NsscopeError("the container's monitor died before starting it")
    _, _, rest = reply.partition(" ")  # "error <exit code> <message>"
    code, _, msg = rest.partition(" ")
    err = NsscopeError(msg)
    err.exit_code = int(code)
    raise err


def monitor_main() -> None:
    """Entry of the -d monitor: start the prepared container, report, supervise it."""
    cdir, report_fd = sys.argv[1], int(sys.argv[2])
    spec = Spec.from_dict(state.read_json(os.path.join(cdir, "config.json")) or {})
    run_dir = os.path.dirname(os.path.dirname(cdir))
    sup = Supervisor(spec, run_dir=run_dir)
    sup._name_taken = True
    st = state.read_json(os.path.join(cdir, "state.json")) or {}
    sup.lower = st.get("rootfs") or None
    sup.cgroup = ContainerCgroup(spec.id)
    if sup.lower is not None:
        sup.layers = {name: os.path.join(cdir, name) for name in ("upper", "work", "rootfs")}
    me = state.proc_stat(os.getpid())
    state.update_state(cdir, monitor_pid=os.getpid(), monitor_starttime=me[1] if me else None)
    log = os.open(os.path.join(cdir, "log"), os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC,
                  0o600)
    try:
        sup.start(stdin=DEVNULL, stdout=log, stderr=log)
    except NsscopeError as e:
        os.write(report_fd, f"error {e.exit_code} {e}\n".encode())
        os._exit(e.exit_code)
    except BaseException as e:  # the CLI must hear of it
        os.write(report_fd, f"error 1 {type(e).__name__}: {e}\n".encode())
        os._exit(1)
    finally:
        os.close(log)
    os.write(report_fd, b"ok\n")
    os.close(report_fd)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    code = sup.wait()
    sup.finish(code)

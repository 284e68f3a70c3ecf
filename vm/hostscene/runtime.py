"""Inside the VM: the host's plumbing the scene's runtimes sit on.

Writable state directories, cgroups made the way systemd and the kubelet make
them, containerd started as systemd would start containerd.service, ``ctr``
calls, and daemons detached so that their parent is pid 1 (as under an init).
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Sequence

CG = "/sys/fs/cgroup"
#: a service's environment under systemd: PATH (systemd's default) and the locale
SERVICE_ENV = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
               "LANG": "C.UTF-8"}
CONTAINERD_SOCK = "/run/containerd/containerd.sock"


def log(msg: str) -> None:
    print(f"hostscene: {msg}", file=sys.stderr, flush=True)


def hexid(*parts: str) -> str:
    """A 64-hex id, the same on every capture (re-captures keep names and paths)."""
    return hashlib.sha256("/".join(("nsscope-scene", *parts)).encode()).hexdigest()


def uuid_from(*parts: str) -> str:
    h = hexid(*parts)
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-a{h[17:20]}-{h[20:32]}"


def write(path: str, value: str) -> None:
    # one write(2) on an fd: the kernel's EINVAL/EBUSY surfaces here
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        os.write(fd, value.encode())
    finally:
        os.close(fd)


def write_json(path: str, obj: object, mode: int = 0o600) -> None:
    """JSON as Go's encoding/json Encoder writes it: compact, one trailing newline."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        os.write(fd, (json.dumps(obj, separators=(",", ":")) + "\n").encode())
    finally:
        os.close(fd)


def sh(*argv: str, check: bool = True, env: dict[str, str] | None = None,
       quiet: bool = False) -> subprocess.CompletedProcess[str]:
    res = subprocess.run(argv, check=False, capture_output=True, text=True,
                         env=env if env is not None else SERVICE_ENV)
    if check and res.returncode != 0:
        raise SystemExit(f"hostscene: {' '.join(argv)} failed ({res.returncode}):\n"
                         f"{res.stdout}{res.stderr}")
    if not quiet and res.stderr.strip():
        log(f"{argv[0]} {argv[1] if len(argv) > 1 else ''}: {res.stderr.strip()[:400]}")
    return res


def mount(*argv: str) -> None:
    sh("mount", *argv)


# --- the host's writable state ------------------------------------------------------------

def prepare_host() -> None:
    """The VM's root is the host's / over 9p, read-only: /var/lib and /var/log
    get tmpfs mounts (/run and /tmp are tmpfs already, vm/init); the modules
    the runtimes need are loaded."""
    for mod in ("overlay", "loop", "ext4", "veth"):
        sh("modprobe", mod)
    for d in ("/var/lib", "/var/log"):
        mount("-t", "tmpfs", "-o", "mode=0755", "tmpfs", d)
    # cgroup controllers, as systemd enables them for its units
    # (src/core/cgroup.c: cpu, io, memory, pids for the units that account them)
    write(f"{CG}/cgroup.subtree_control", "+cpuset +cpu +io +memory +pids")


def make_cgroup(path: str, files: dict[str, str] | None = None,
                controllers: str = "+cpuset +cpu +io +memory +pids") -> None:
    """mkdir a cgroup (parents first) and write its files; a cgroup that will have
    children gets ``controllers`` in its subtree_control."""
    full = CG + path
    parent = os.path.dirname(full)
    if not os.path.isdir(parent):
        make_cgroup(os.path.dirname(path), controllers=controllers)
    if not os.path.isdir(full):
        os.mkdir(full)
    pctl = os.path.join(parent, "cgroup.subtree_control")
    with open(pctl) as f:
        enabled = f.read().strip()
    if not enabled:
        write(pctl, controllers)
    for name, value in (files or {}).items():
        write(f"{full}/{name}", value)


def join_cgroup(path: str) -> None:
    write(f"{CG}{path}/cgroup.procs", "0")


def spawn_daemon(argv: Sequence[str], cgroup: str, env: dict[str, str],
                 stdout: str = "/dev/null") -> None:
    """Start ``argv`` detached as an init starts a service: in ``cgroup``, its own
    session, cwd /, stdin /dev/null, and re-parented to pid 1 (the intermediate
    child exits)."""
    pid = os.fork()
    if pid == 0:
        try:
            os.setsid()
            if os.fork() != 0:
                os._exit(0)
            join_cgroup(cgroup)
            os.chdir("/")
            null = os.open("/dev/null", os.O_RDWR)
            out = os.open(stdout, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o640)
            os.dup2(null, 0)
            os.dup2(out, 1)
            os.dup2(out, 2)
            os.closerange(3, 1 << 16)
            os.execvpe(argv[0], list(argv), env)
        except BaseException as e:  # never return into the caller's code
            print(f"hostscene: spawn {argv[0]}: {e}", file=sys.stderr)
        finally:
            os._exit(127)
    os.waitpid(pid, 0)


def wait_for(what: str, ok, timeout: float = 300.0, step: float = 0.5):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while True:
        value = ok()
        if value:
            return value
        if time.monotonic() > deadline:
            raise SystemExit(f"hostscene: timed out waiting for {what}")
        time.sleep(step)


# --- containerd ----------------------------------------------------------------------------

def start_containerd() -> None:
    """/usr/bin/containerd with its packaged config (/etc/containerd/config.toml:
    root /var/lib/containerd, state /run/containerd), in containerd.service as
    containerd.service's ExecStart runs it; shims it starts stay in that cgroup."""
    make_cgroup("/system.slice/containerd.service")
    spawn_daemon(["/usr/bin/containerd"], "/system.slice/containerd.service", SERVICE_ENV,
                 stdout="/var/log/containerd.log")
    wait_for("containerd", lambda: os.path.exists(CONTAINERD_SOCK)
             and sh("ctr", "version", check=False, quiet=True).returncode == 0)
    log("containerd is up")


def ctr(namespace: str, *args: str) -> str:
    return sh("ctr", "-n", namespace, *args).stdout


def task_pid(namespace: str, cid: str) -> int:
    """The container's init pid, from the bundle's init.pid (the runc shim writes it)."""
    path = f"/run/containerd/io.containerd.runtime.v2.task/{namespace}/{cid}/init.pid"
    return int(wait_for(f"{path}", lambda: os.path.exists(path) and open(path).read().strip()))


def pids_in(cgroup: str) -> list[int]:
    with open(f"{CG}{cgroup}/cgroup.procs") as f:
        return [int(x) for x in f.read().split()]


def comm(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/comm") as f:
            return f.read().strip()
    except OSError:
        return ""


def cmdline(pid: int) -> list[str]:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return [a.decode() for a in f.read().split(b"\0")[:-1]]
    except OSError:
        return []

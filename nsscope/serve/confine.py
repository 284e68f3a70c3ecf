"""What ``serve`` does to itself before it listens (before any thread exists: namespaces
and capabilities are per thread, setns(2), capset(2)).

1. Join the host's cgroup namespace when it is in one of its own. The kernel shows the
   paths of /proc/PID/cgroup, and the roots of cgroup mounts in mountinfo, relative to
   the *reader's* cgroup namespace ("0::/../../kubepods/…", cgroup_namespaces(7);
   kernel/cgroup/cgroup.c proc_cgroup_show): every container would be misplaced. On
   cgroup v2 nodes the CRI runtimes give each pod a private one (containerd and CRI-O,
   for unprivileged containers), so the DaemonSet's pod starts in one: it joins pid 1's
   (hostPID; kthreadd's where pid 1 cannot be read), which needs CAP_SYS_ADMIN
   (kernel/cgroup/namespace.c cgroupns_install).
   Without it, serve refuses to start rather than serve wrong paths.
2. Keep only the capabilities it reads with: CAP_SYS_PTRACE, for the /proc/PID/ns links,
   root, cwd, environ and fds of processes it does not own or that hold capabilities it
   lacks (ptrace(2) "Ptrace access mode checking", security/commoncap.c
   cap_ptrace_access_check), and CAP_DAC_READ_SEARCH, for runtime state files whatever
   their owner and mode. Every other capability (CAP_SYS_ADMIN once the namespace is
   joined, and all of root's) leaves the effective and permitted sets: the process that
   parses HTTP requests cannot use what it does not hold.
"""

from __future__ import annotations

import os

from nsscope.errors import NsscopeError
from nsscope.kernel import syscalls
from nsscope.kernel.abi import CLONE_NEWCGROUP, PROC

CAP_DAC_READ_SEARCH = 2
CAP_SYS_PTRACE = 19
#: what serve keeps (module doc)
KEEP = (1 << CAP_DAC_READ_SEARCH) | (1 << CAP_SYS_PTRACE)


def _ns(path: str) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino


def host_cgroup_namespace(proc: str = PROC) -> str | None:
    """The host's cgroup namespace file: pid 1's, or kthreadd's where pid 1 cannot be read
    (kernel threads run in the initial namespaces, init_nsproxy: namespaces.host_namespaces)."""
    for pid in (1, 2):
        path = f"{proc}/{pid}/ns/cgroup"
        if pid == 2:
            try:
                with open(f"{proc}/2/comm") as f:
                    if f.read().strip() != "kthreadd":
                        return None
            except OSError:
                return None
        if _ns(path) is not None:
            return path
    return None


def join_host_cgroup_namespace(proc: str = PROC) -> bool:
    """Join the host's cgroup namespace if this process is in another; True if it did."""
    host = host_cgroup_namespace(proc)
    own = _ns(f"{proc}/self/ns/cgroup")
    if own is None or host is None or own == _ns(host):
        return False  # no cgroup namespaces, the host's not visible, or already in it
    try:
        fd = os.open(host, os.O_RDONLY | os.O_CLOEXEC)
        try:
            syscalls.setns(fd, CLONE_NEWCGROUP)
        finally:
            os.close(fd)
    except OSError as e:
        raise NsscopeError(
            "serve: in a cgroup namespace of its own, where the kernel shows cgroup paths "
            "relative to it, and cannot join the host's: "
            f"{e.strerror} (it needs CAP_SYS_ADMIN and the host's pid namespace)") from None
    return True


def keep_reading_capabilities() -> None:
    """Drop every capability but CAP_SYS_PTRACE and CAP_DAC_READ_SEARCH (none held: nothing)."""
    effective, permitted, inheritable = syscalls.capget()
    if not permitted & ~KEEP and not inheritable & ~KEEP:
        return
    syscalls.capset(effective & KEEP, permitted & KEEP, inheritable & KEEP)


def confine(proc: str = PROC) -> None:
    join_host_cgroup_namespace(proc)
    keep_reading_capabilities()

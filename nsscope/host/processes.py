"""Reading processes from /proc.

Every reader takes the procfs root (like psutil's PROCFS_PATH) so tests can
point it at a captured tree. Files are read through a directory fd of
/proc/PID: the kernel resolves /proc/PID once, and every later read refers to
the same process instance even if the pid is reused meanwhile (reads then fail
with ESRCH instead of describing another process).
"""

from __future__ import annotations

import errno
import os

from nsscope.errors import AccessDenied, BadInput, NoSuchProcess
from nsscope.kernel.abi import NS_LINKS, PF_KTHREAD, PROC

# `typing` costs 2 ms of start-up; mypy treats any TYPE_CHECKING as true
TYPE_CHECKING = False
if TYPE_CHECKING:
    from nsscope.host.model import Process

# nsscope.host.model is imported where a Process is built, not here: `nsscope enter`
# uses this module's parsers and must not pay for the model (~1 ms of its few ms of
# headroom)

_O_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC


def list_pids(proc: str = PROC) -> list[int]:
    """Every pid in /proc, ascending (threads are not listed there)."""
    pids = [int(name) for name in os.listdir(proc) if name.isdigit()]
    pids.sort()
    return pids


def read_at(dirfd: int, name: str, size: int = 65536) -> bytes:
    """The whole file ``name`` under the directory ``dirfd`` (a /proc/PID dirfd: every
    read names the same process, whatever happens to its pid meanwhile); one read(2)
    for the usual small file."""
    fd = os.open(name, os.O_RDONLY | os.O_CLOEXEC, dir_fd=dirfd)
    try:
        data = os.read(fd, size)
        if len(data) < size:
            return data
        chunks = [data]
        while True:
            data = os.read(fd, size)
            if not data:
                return b"".join(chunks)
            chunks.append(data)
    finally:
        os.close(fd)


def parse_stat(data: bytes) -> tuple[str, str, int, int, int]:
    """(comm, state, ppid, flags, starttime) from /proc/PID/stat.

    comm may hold spaces and parentheses: it runs from the first '(' to the
    last ')' (proc(5)).
    """
    lpar = data.index(b"(")
    rpar = data.rindex(b")")
    comm = data[lpar + 1:rpar].decode("utf-8", "replace")
    rest = data[rpar + 2:].split(None, 20)  # up to field 22; the rest unsplit
    # rest[0] is field 3 (state); field N is rest[N - 3]
    return comm, rest[0].decode(), int(rest[1]), int(rest[6]), int(rest[19])


def parse_cgroup(data: bytes) -> dict[str, str]:
    """/proc/PID/cgroup lines 'ID:CONTROLLERS:PATH' -> {controllers: path}."""
    out: dict[str, str] = {}
    for line in data.decode("utf-8", "replace").splitlines():
        _, _, rest = line.partition(":")
        key, _, path = rest.partition(":")
        out[key] = path
    return out


#: (link name, its path relative to /proc/PID, where the inode starts in its text:
#: "net:[4026531840]", "pid:[…]" for pid_for_children)
_NS_PATHS = tuple((name, "ns/" + name, len(name.partition("_")[0]) + 2) for name in NS_LINKS)


def read_ns_links(dirfd: int) -> tuple[dict[str, int], bool]:
    """The ns inodes of the process behind ``dirfd``; (links, visible).

    A link the kernel lacks (no time namespaces before 5.6) is left out; EACCES
    (ptrace access mode check, ptrace(2)) makes the process not visible.
    """
    ns: dict[str, int] = {}
    readlink = os.readlink
    for name, path, start in _NS_PATHS:
        try:
            text = readlink(path, dir_fd=dirfd)
        except OSError as e:
            if e.errno in (errno.EACCES, errno.EPERM, errno.EINVAL):
                # EINVAL: not a symlink, which /proc never serves; treat as hidden
                return {}, False
            if e.errno == errno.ENOENT:
                # the kernel lacks the type, or pid_for_children of a process
                # that unshared CLONE_NEWPID before the namespace has its init
                # (pidns_for_children_get() returns nothing without a child_reaper)
                continue
            raise
        # "net:[4026531840]"
        ns[name] = int(text[start:-1])
    return ns, True


def read_process(pid: int, proc: str = PROC, *, cmdline: bool = True,
                 cgroups: bool = True) -> Process:
    """One process. Raises NoSuchProcess if it is gone (or a zombie-reaped race).

    ``cgroups=False`` leaves ``cgroups`` empty (/proc/PID/cgroup unread): for a
    view that shows no cgroup, such as ``nsscope ls``.
    """
    from nsscope.host.model import Process
    return _read_one(Process, pid, proc, cmdline, cgroups)


def _read_one(make: type[Process], pid: int, proc: str, cmdline: bool,
              cgroups: bool) -> Process:
    # the collector's inner loop; ``make`` is the model's Process, imported once by
    # the caller (this module does not import the model: see above)
    try:
        dirfd = os.open(f"{proc}/{pid}", _O_DIR)
    except FileNotFoundError:
        raise NoSuchProcess(pid) from None
    try:
        try:
            uid, comm, state, ppid, starttime, kthread, args = _details(dirfd, cmdline)
            ns, visible = read_ns_links(dirfd)
            paths: dict[str, str] = {}
            if cgroups:
                try:
                    paths = parse_cgroup(read_at(dirfd, "cgroup", 4096))
                except FileNotFoundError:  # a kernel without cgroups, or a captured tree without it
                    pass
        except (FileNotFoundError, ProcessLookupError):
            raise NoSuchProcess(pid) from None
        except OSError as e:
            if e.errno == errno.ESRCH:
                raise NoSuchProcess(pid) from None
            raise
    finally:
        os.close(dirfd)
    # every field positionally: a Record built so takes no Python loop (records.py)
    return make(pid, ppid, uid, comm, args, state, starttime, kthread, ns, paths, visible)


def _details(dirfd: int, cmdline: bool = True
             ) -> tuple[int, str, str, int, int, bool, tuple[str, ...]]:
    """(uid, comm, state, ppid, starttime, kernel thread, argv) of the process behind
    ``dirfd``: its owner, /proc/PID/stat and /proc/PID/cmdline."""
    uid = os.fstat(dirfd).st_uid
    # stat is one short line; an argv is usually short too: 4 KiB first (a 64 KiB
    # buffer per read costs more than the read on this path)
    comm, state, ppid, flags, starttime = parse_stat(read_at(dirfd, "stat", 4096))
    kthread = bool(flags & PF_KTHREAD)
    args: tuple[str, ...] = ()
    if cmdline and not kthread:
        raw = read_at(dirfd, "cmdline", 4096)
        if raw:
            # strip only the terminating NUL: a process that blanked its argv
            # (setproctitle) keeps empty args, and lsns shows them as trailing spaces
            if raw.endswith(b"\0"):
                raw = raw[:-1]
            args = tuple(a.decode("utf-8", "replace") for a in raw.split(b"\0"))
    return uid, comm, state, ppid, starttime, kthread, args


def read_processes(proc: str = PROC, *, cgroups: bool = True) -> dict[int, Process]:
    """Every process that still exists by the time it is read (``cgroups``: as in
    ``read_process``)."""
    from nsscope.host.model import Process
    out: dict[int, Process] = {}
    for pid in list_pids(proc):
        try:
            out[pid] = _read_one(Process, pid, proc, True, cgroups)
        except NoSuchProcess:
            continue  # exited mid-walk: normal
        except (ValueError, IndexError):
            continue  # a stat line cut short by an exiting process
        except OSError:
            continue  # EACCES on a hardened /proc (hidepid=), EIO on a dying task
    return out


def read_leaders(proc: str = PROC) -> tuple[dict[int, Process], dict[int, dict[str, int]]]:
    """(leaders, links): the namespace links of every process (pid -> links, as
    ``Process.ns``), and whole records only of the processes a namespace list
    shows: each namespace's first member (the lowest pid, as lsns shows it), pids
    1 and 2 (host_namespaces' witnesses) and every process whose links the
    kernel refused (listed as hidden). For ``nsscope ls`` on a host of thousands
    of processes that share a few namespaces: a process that leads none costs its
    ten links only, not its stat, cmdline and owner (``cgroups`` are not read)."""
    from nsscope.host.model import Process
    leaders: dict[int, Process] = {}
    links: dict[int, dict[str, int]] = {}
    seen: set[int] = set()
    for pid in list_pids(proc):
        try:
            dirfd = os.open(f"{proc}/{pid}", _O_DIR)
        except OSError:
            continue
        try:
            ns, visible = read_ns_links(dirfd)
            new = [ino for link, ino in ns.items() if link not in _FOR_CHILDREN
                   and ino not in seen]
            if new or not visible or pid <= 2:
                # as read_processes reads it: a process caught exiting is not counted
                # (a reaped one's links are refused too: proc_ns_readlink, EACCES)
                uid, comm, state, ppid, starttime, kthread, args = _details(dirfd)
                leaders[pid] = Process(pid, ppid, uid, comm, args, state, starttime, kthread,
                                       ns, {}, visible)
        except (OSError, ValueError, IndexError):
            continue  # exited mid-walk (ESRCH, ENOENT), a stat line cut short, EIO
        finally:
            os.close(dirfd)
        seen.update(new)
        links[pid] = ns
    return leaders, links


_FOR_CHILDREN = frozenset(("pid_for_children", "time_for_children"))


def parse_pid(text: str) -> int:
    """A user-given pid: a positive integer, else BadInput."""
    try:
        pid = int(text, 10)
    except (TypeError, ValueError):
        raise BadInput(f"not a pid: {text!r}") from None
    if pid <= 0:
        raise BadInput(f"not a pid: {text!r} (pids start at 1)")
    return pid


def starttime(pid: int, proc: str = PROC) -> int:
    """Field 22 of /proc/PID/stat; NoSuchProcess if gone."""
    try:
        with open(f"{proc}/{pid}/stat", "rb") as f:
            return parse_stat(f.read())[4]
    except (FileNotFoundError, ProcessLookupError):
        raise NoSuchProcess(pid) from None
    except PermissionError:
        raise AccessDenied(f"{proc}/{pid}/stat") from None


def tgid(pid: int, proc: str = PROC) -> int:
    """The thread-group id (the process) of a task id; NoSuchProcess if gone.

    /proc/TID exists for every thread although only thread-group leaders are
    listed (proc(5)); ``Tgid:`` in its status names the process.
    """
    try:
        with open(f"{proc}/{pid}/status", "rb") as f:
            for line in f:
                if line.startswith(b"Tgid:"):
                    return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError):
        raise NoSuchProcess(pid) from None
    return pid


def children(pid: int, proc: str = PROC) -> list[int]:
    """The direct children of process ``pid`` (of all its threads), ascending.

    From /proc/PID/task/TID/children (CONFIG_PROC_CHILDREN, proc(5)); where
    that file is missing, from the ppid of every process.
    """
    try:
        tids = os.listdir(f"{proc}/{pid}/task")
    except FileNotFoundError:
        return []
    out: set[int] = set()
    for tid in tids:
        try:
            with open(f"{proc}/{pid}/task/{tid}/children", "rb") as f:
                out.update(int(x) for x in f.read().split())
        except FileNotFoundError:
            if not os.path.exists(f"{proc}/{pid}/task/{tid}"):
                continue  # the thread exited
            return _children_by_ppid(pid, proc)
        except ProcessLookupError:
            continue
    return sorted(out)


def _children_by_ppid(pid: int, proc: str) -> list[int]:
    out = []
    for other in list_pids(proc):
        try:
            with open(f"{proc}/{other}/stat", "rb") as f:
                if parse_stat(f.read())[2] == pid:
                    out.append(other)
        except (OSError, ValueError, IndexError):
            continue
    return out


def descendants(pid: int, proc: str = PROC) -> list[int]:
    """Every process below ``pid`` in the process tree, parents before children."""
    # breadth first over ``out`` itself (no deque: collections costs `enter` ~1 ms)
    out: list[int] = []
    seen = {pid}
    parent, i = pid, 0
    while True:
        for child in children(parent, proc):
            if child not in seen:
                seen.add(child)
                out.append(child)
        if i == len(out):
            return out
        parent, i = out[i], i + 1


def boot_time(proc: str = PROC) -> float | None:
    """When the host booted, seconds since the epoch: ``btime`` of /proc/stat (proc(5)),
    the origin of every process's starttime."""
    try:
        with open(f"{proc}/stat", "rb") as f:
            for line in f:
                if line.startswith(b"btime "):
                    return float(line.split()[1])
    except OSError:
        pass
    return None


#: the unit of /proc/PID/stat's starttime (sysconf(_SC_CLK_TCK), proc(5))
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def started_at(starttime: int, boot: float) -> float:
    """Seconds since the epoch at which a process with this starttime (clock ticks after
    boot, field 22 of /proc/PID/stat) started."""
    return boot + starttime / CLOCK_TICKS

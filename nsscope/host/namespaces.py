"""The namespace graph: who is in which namespace, who owns it, what keeps it.

A namespace lives while something refers to it: a member process, a
``*_for_children`` link, an nsfs bind mount (``ip netns add``), an open fd, or
a child namespace (a user namespace owns its namespaces; pid and user
namespaces have parents). All of them are found here, so namespaces without
processes are listed too (like newer lsns).
"""

from __future__ import annotations

import errno
import os

from nsscope.kernel import abi
from nsscope.host.model import NS_TYPES, Namespace, Process
from nsscope.host.mountinfo import unescape as unescape_mountinfo
from nsscope.kernel.abi import PROC

# collections (defaultdict, collections.abc) costs ~2 ms of every view's start-up;
# mypy treats any TYPE_CHECKING as true
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

#: NS_GET_NSTYPE answers with the CLONE_NEW* flag
_TYPE_OF_FLAG = {flag: name for name, flag in abi.CLONE_FLAGS.items()}
_FOR_CHILDREN = {"pid_for_children": "pid", "time_for_children": "time"}


def parse_ns_link(text: str) -> tuple[str, int] | None:
    """'net:[4026531840]' -> ('net', 4026531840); None for anything else."""
    typ, sep, rest = text.partition(":[")
    if not sep or not rest.endswith("]") or typ not in NS_TYPES:
        return None
    try:
        return typ, int(rest[:-1])
    except ValueError:
        return None


def nsfs_mounts(pids: Iterable[int], proc: str = PROC) -> dict[int, tuple[str, list[str]]]:
    """nsfs bind mounts seen from the mount namespaces of ``pids``.

    Returns {ino: (type, [mountpoints])}. An nsfs mount's root field (4th in
    mountinfo, proc(5)) is the namespace link text, e.g. 'net:[4026532177]'.
    """
    found: dict[int, tuple[str, list[str]]] = {}
    for pid in pids:
        try:
            with open(f"{proc}/{pid}/mountinfo", "rb") as f:
                data = f.read().decode("utf-8", "replace")
        except OSError:
            continue
        for line in data.splitlines():
            if " - nsfs " not in line:
                continue
            fields = line.split(" ")
            parsed = parse_ns_link(unescape_mountinfo(fields[3]))
            if parsed is None:
                continue
            typ, ino = parsed
            point = unescape_mountinfo(fields[4])
            points = found.setdefault(ino, (typ, []))[1]
            if point not in points:
                points.append(point)
    return found


def held_by_fds(pids: Iterable[int], proc: str = PROC) -> dict[int, tuple[str, list[str]]]:
    """Namespaces kept by open fds: {ino: (type, ['/proc/PID/fd/N', …])}.

    Give only the processes whose namespace links could be read: an fd link
    passes the same ptrace access check (PTRACE_MODE_READ_FSCREDS in
    fs/proc/base.c proc_fd_access_allowed and fs/proc/namespaces.c
    proc_ns_get_link), so a process that refused one refuses the other; and a
    process that refuses one of its fds refuses them all (the check is on the
    process): the rest of them are not tried.
    """
    found: dict[int, tuple[str, list[str]]] = {}
    readlink = os.readlink
    for pid in pids:
        # by path, not through a dirfd: os.listdir(fd) dups, fcntls and lseeks the
        # descriptor (5 more system calls a process); and a holder path names
        # whatever process has that pid, so a reused pid is no wrong answer
        base = f"{proc}/{pid}/fd/"
        try:
            names = os.listdir(base)
        except OSError:
            continue
        for name in names:
            try:
                text = readlink(base + name)
            except PermissionError:
                break
            except OSError:
                continue
            # cheap filter first: most fds are files, sockets, pipes
            if not text.endswith("]") or text.startswith(("socket:", "pipe:", "anon_inode:")):
                continue
            parsed = parse_ns_link(text)
            if parsed is not None:
                found.setdefault(parsed[1], (parsed[0], []))[1].append(base + name)
    return found


def _ino_of_fd(fd: int) -> int:
    return os.fstat(fd).st_ino


def _relatives_fd(fd: int, typ: str) -> tuple[int | None, int | None, int | None, list]:
    """(owner userns ino, parent ino, owner uid, [(fd, type) of those relatives]).

    Each is None when the kernel does not say: the initial user namespace has
    no owner (NS_GET_USERNS: EPERM), only pid and user namespaces have parents
    (NS_GET_PARENT: EINVAL otherwise), and a captured tree holds no nsfs files
    (ENOTTY). The caller owns (and must close) the returned fds.
    """
    from nsscope.kernel import syscalls  # the ioctls through libc (a dlopen): see build
    owner = parent = owner_uid = None
    fds: list[tuple[int, str]] = []
    try:
        ofd = syscalls.ns_get_userns(fd)
        owner = _ino_of_fd(ofd)
        fds.append((ofd, "user"))
    except OSError:
        pass
    if typ in ("pid", "user"):
        try:
            pfd = syscalls.ns_get_parent(fd)
            parent = _ino_of_fd(pfd)
            fds.append((pfd, typ))
        except OSError:
            pass
    if typ == "user":
        try:
            owner_uid = syscalls.ns_get_owner_uid(fd)
        except OSError:
            pass
    return owner, parent, owner_uid, fds


def _relatives(path: str, typ: str, known: Mapping[int, str],
               extra: dict[int, Namespace]) -> tuple[int | None, int | None, int | None]:
    """(owner, parent, owner uid) of the namespace at ``path``.

    Owners and parents not in ``known`` are walked up and added to ``extra``:
    processless ancestors that exist only because a descendant refers to them.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None, None, None
    try:
        owner, parent, owner_uid, stack = _relatives_fd(fd, typ)
    finally:
        os.close(fd)
    while stack:
        rfd, rtyp = stack.pop()
        try:
            ino = _ino_of_fd(rfd)
            if ino in known or ino in extra:
                continue
            own, par, uid, more = _relatives_fd(rfd, rtyp)
            extra[ino] = Namespace(ino=ino, type=rtyp, pids=(), owner=own, parent=par,
                                   owner_uid=uid)
            stack.extend(more)
        finally:
            os.close(rfd)
    return owner, parent, owner_uid


def build(processes: Mapping[int, Process], proc: str = PROC, *,
          graph: bool = True, fds: bool = True, netnsid: bool = True) -> dict[int, Namespace]:
    """Every namespace on the host, with members, relatives and holders.

    ``graph=False`` leaves owners, parents and netns ids unknown (no ioctls);
    ``fds=False`` skips the namespaces only an open fd keeps; ``netnsid=False``
    leaves netns ids unknown (no netlink socket: a view without NETNSID).

    (nsscope.kernel.syscalls, which loads libc for the nsfs ioctls, is imported
    by the functions that make them: `nsscope ps` uses this module's
    host_namespaces and never an ioctl.)
    """
    return from_links({pid: p.ns for pid, p in processes.items()},
                      [pid for pid, p in processes.items() if p.visible], proc,
                      graph=graph, fds=fds, netnsid=netnsid)


def from_links(links: Mapping[int, Mapping[str, int]], visible: Iterable[int],
               proc: str = PROC, *, graph: bool = True, fds: bool = True,
               netnsid: bool = True) -> dict[int, Namespace]:
    """``build`` from each process's namespace links (pid -> links, ascending pids;
    processes.read_leaders) and the pids whose fds may be looked at (those whose
    links the kernel showed)."""
    members: dict[int, list[int]] = {}
    types: dict[int, str] = {}
    #: ino -> [(pid, link)] of the *_for_children links naming it (made into paths
    #: only for the namespaces nothing else keeps: a few of thousands)
    children_links: dict[int, list[tuple[int, str]]] = {}
    for pid, ns in links.items():  # processes come in ascending pid order
        for link, ino in ns.items():
            typ = _FOR_CHILDREN.get(link)
            if typ is None:
                pids = members.get(ino)
                if pids is None:
                    members[ino] = [pid]
                    types[ino] = link
                else:
                    pids.append(pid)
            else:
                kids = children_links.get(ino)
                if kids is None:
                    children_links[ino] = [(pid, link)]
                    types.setdefault(ino, typ)
                else:
                    kids.append((pid, link))

    # where to find each namespace as a file, for the ioctls
    paths: dict[int, str] = {}
    for ino, pids in members.items():
        paths[ino] = f"{proc}/{pids[0]}/ns/{types[ino]}"
    holders: dict[int, list[str]] = {}
    for ino, kids in children_links.items():
        if ino not in members:
            kept = [f"{proc}/{pid}/ns/{link}" for pid, link in kids]
            holders.setdefault(ino, []).extend(kept)
            paths.setdefault(ino, kept[0])

    # one mountinfo per mount namespace is enough to see every nsfs mount
    mnt_reps = [pids[0] for ino, pids in members.items() if types[ino] == "mnt"]
    mounts = nsfs_mounts(mnt_reps, proc)
    for ino, (typ, points) in mounts.items():
        types.setdefault(ino, typ)
        if ino not in paths:
            # the mountpoint is in the mount namespace where it was found;
            # a holder path through /proc works from any namespace
            paths[ino] = points[0]
    if fds:
        for ino, (typ, fdpaths) in held_by_fds(visible, proc).items():
            types.setdefault(ino, typ)
            if ino not in members:
                holders.setdefault(ino, []).extend(fdpaths)
                paths.setdefault(ino, fdpaths[0])

    out: dict[int, Namespace] = {}
    extra: dict[int, Namespace] = {}
    for ino, typ in types.items():
        owner = parent = owner_uid = None
        if graph and ino in paths:
            owner, parent, owner_uid = _relatives(paths[ino], typ, types, extra)
        out[ino] = Namespace(
            ino=ino, type=typ, pids=tuple(members.get(ino, ())), owner=owner, parent=parent,
            owner_uid=owner_uid, nsfs=tuple(mounts[ino][1]) if ino in mounts else (),
            holders=tuple(holders.get(ino, ())))
    out.update(extra)
    if graph and netnsid:
        _add_netnsids(out, paths)
    return out


def _add_netnsids(out: dict[int, Namespace], paths: Mapping[int, str]) -> None:
    """Fill ``netnsid`` of every network namespace that has one (RTM_GETNSID)."""
    nets = [ino for ino, ns in out.items() if ns.type == "net" and ino in paths]
    if not nets:
        return
    from nsscope.kernel import rtnetlink  # socket and struct: ~5 ms, for this only
    try:
        ids = rtnetlink.NetnsIds()
    except OSError:
        return  # no netlink (a seccomp sandbox): ids stay unknown
    with ids:
        for ino in nets:
            try:
                nsid = ids.of_path(paths[ino])
            except OSError:
                continue  # gone, or a captured tree (not an nsfs file)
            if nsid is not None:
                out[ino] = out[ino]._replace(netnsid=nsid)


def host_namespaces(processes: Mapping[int, Process]) -> dict[str, int]:
    """The initial namespaces: pid 1's, or a kernel thread's when pid 1 is hidden.

    Kernel threads always run in the initial namespaces (init_nsproxy), so
    kthreadd (pid 2) is a faithful stand-in where pid 1 cannot be read.
    """
    for pid in (1, 2):
        p = processes.get(pid)
        if p is not None and p.visible and p.ns and (pid == 1 or p.kernel_thread):
            return {t: p.ns[t] for t in NS_TYPES if t in p.ns}
    for p in processes.values():
        if p.kernel_thread and p.ns:
            return {t: p.ns[t] for t in NS_TYPES if t in p.ns}
    return {}


def open_ns_fd(pid: int, typ: str, proc: str = PROC) -> int:
    """An fd on /proc/PID/ns/TYPE; OSError with a useful errno otherwise."""
    try:
        return os.open(f"{proc}/{pid}/ns/{typ}", os.O_RDONLY | os.O_CLOEXEC)
    except OSError as e:
        if e.errno == errno.ENOENT and os.path.exists(f"{proc}/{pid}"):
            raise OSError(errno.EINVAL, f"this kernel has no {typ} namespaces") from None
        raise


def nstype_of_fd(fd: int) -> str | None:
    from nsscope.kernel import syscalls
    try:
        return _TYPE_OF_FLAG.get(syscalls.ns_get_nstype(fd))
    except OSError:
        return None

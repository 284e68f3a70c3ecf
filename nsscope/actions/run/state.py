"""Where nsscope's containers are recorded, and what state each is in.

``/run/nsscope/containers/<id>/`` holds ``config.json`` (the spec),
``state.json`` (pid, start time, status, exit code; replaced atomically, never
written in place), ``log`` for ``-d``, and the overlay's ``upper``/``work``.
``/run/nsscope/names/<name>`` is a symlink to the id: creating it is the atomic
reservation of a name.

The recorded status is a hint; the truth comes from the kernel, as youki does
(libcontainer/src/container/container.rs refresh_status): a container is running
while its PID 1 exists with the recorded start time (pids are reused) and is not
a zombie. A supervisor that died without recording the end ("crashed") is what
``nsscope gc`` cleans up after.
"""

from __future__ import annotations

import errno
import os

try:  # the C function json.dumps quotes strings with (ensure_ascii)
    from _json import encode_basestring_ascii as _quote
except ImportError:  # not CPython
    from json.encoder import encode_basestring_ascii as _quote

from nsscope.errors import BadInput
from nsscope.records import Record

RUN_DIR = "/run/nsscope"
#: cgroup path of every container, in every hierarchy it joins: CGROUP_PARENT/<id>
CGROUP_PARENT = "/nsscope"
#: processes.PROC, repeated: this module is on the start-up path of every run,
#: which does not import nsscope.host.processes (and its dataclass model)
PROC = "/proc"

CREATING, RUNNING, STOPPED = "creating", "running", "stopped"

class Container(Record):
    """One of nsscope's own containers, as ``nsscope ps`` lists it (runtime "nsscope")."""

    id: str
    name: str
    #: host pid of the container's PID 1; None before it exists
    pid: int | None
    #: its start time (field 22 of /proc/PID/stat); with the pid, names it for good
    starttime: int | None
    #: "creating", "running" or "stopped", derived from the live pid (see module doc)
    status: str
    #: the cgroup path, the same in every hierarchy it joined ("/nsscope/<id>")
    cgroup: str
    #: the directory its / comes from ("" when it runs on the host's root)
    rootfs: str
    command: tuple[str, ...]
    #: unix time of creation
    created: float
    #: exit status as a shell reports it (128+N for signal N); None until it stopped
    exit_code: int | None
    #: the process that supervises it (the CLI, or the monitor of -d)
    monitor_pid: int | None
    monitor_starttime: int | None
    detach: bool
    remove: bool
    #: the state directory
    dir: str
    #: the supervisor died without recording the end (``nsscope gc`` cleans up)
    crashed: bool = False

    @property
    def short_id(self) -> str:
        return self.id[:12]


def containers_dir(run_dir: str = RUN_DIR) -> str:
    return os.path.join(run_dir, "containers")


def container_dir(cid: str, run_dir: str = RUN_DIR) -> str:
    return os.path.join(run_dir, "containers", cid)


def names_dir(run_dir: str = RUN_DIR) -> str:
    return os.path.join(run_dir, "names")


# --- files ----------------------------------------------------------------------

def to_json(value, top: bool = True) -> str:
    """JSON text of dicts (sorted keys), lists/tuples, str, int, finite float, bool and
    None: json.dumps(value, sort_keys=True) in substance, a top-level dict one key a
    line. Not json.dumps, because importing json (its decoder's regular expressions
    and scanner) costs every ``nsscope run`` ~2 ms; the readers use json."""
    if value is None or value is True or value is False:
        return {None: "null", True: "true", False: "false"}[value]
    if isinstance(value, str):
        return _quote(value)
    if isinstance(value, int):
        return int.__repr__(value)
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise ValueError(f"not a JSON number: {value!r}")
        return float.__repr__(value)
    if isinstance(value, dict):
        items = [f"{_quote(str(k))}: {to_json(v, False)}" for k, v in sorted(value.items())]
        if top and items:
            return "{\n " + ",\n ".join(items) + "\n}"
        return "{" + ", ".join(items) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(to_json(v, False) for v in value) + "]"
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def write_json(path: str, data: dict) -> None:
    """Replace ``path`` atomically (a reader sees the old or the new file, never half)."""
    tmp = f"{path}.{os.getpid()}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
    try:
        os.write(fd, to_json(data).encode() + b"\n")
    finally:
        os.close(fd)
    os.replace(tmp, path)


def read_json(path: str) -> dict | None:
    import json  # not on the way of a run (module doc of to_json)
    try:
        with open(path, "rb") as f:
            return json.loads(f.read())
    except (OSError, ValueError):
        return None


def update_state(cdir: str, **changes) -> dict:
    """Merge ``changes`` into state.json (only the container's supervisor writes it)."""
    path = os.path.join(cdir, "state.json")
    st = read_json(path) or {}
    st.update(changes)
    write_json(path, st)
    return st


def remove_tree(path: str) -> None:
    """``rm -rf`` of a state directory, never following a symlink: each step is taken
    relative to an fd of the directory above (openat with O_NOFOLLOW), so what the
    container wrote into its upper layer cannot point the removal elsewhere;
    shutil.rmtree's fd-based walk, without importing shutil (bz2, lzma, fnmatch and
    re: ~7 ms of every ``--rm``). What this cannot remove is left to shutil."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except FileNotFoundError:
        return
    try:
        try:
            _empty_dir(fd)
        finally:
            os.close(fd)
        os.rmdir(path)
    except OSError:
        import shutil
        shutil.rmtree(path, ignore_errors=True)


def _empty_dir(fd: int) -> None:
    with os.scandir(fd) as it:
        entries = [(e.name, e.is_dir(follow_symlinks=False)) for e in it]
    for name, is_dir in entries:
        if not is_dir:
            os.unlink(name, dir_fd=fd)
            continue
        sub = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC,
                      dir_fd=fd)
        try:
            _empty_dir(sub)
        finally:
            os.close(sub)
        os.rmdir(name, dir_fd=fd)


# --- processes --------------------------------------------------------------------

def proc_stat(pid: int, proc: str = PROC) -> tuple[str, int] | None:
    """(state letter, start time) of ``pid``, None if it does not exist.

    As processes.parse_stat: the command name may hold spaces and ')', so the
    fields start after the last ')' (proc(5)); field N is then rest[N - 3]."""
    try:
        with open(f"{proc}/{pid}/stat", "rb") as f:
            data = f.read()
        rest = data[data.rindex(b")") + 2:].split()
        return rest[0].decode(), int(rest[22 - 3])
    except (OSError, ValueError, IndexError):
        return None


def is_alive(pid: int | None, starttime: int | None, proc: str = PROC) -> bool:
    """The process ``pid`` started at ``starttime`` exists and is not a zombie."""
    if not pid or starttime is None:
        return False
    st = proc_stat(pid, proc)
    return st is not None and st[1] == starttime and st[0] not in ("Z", "X")


# --- records ----------------------------------------------------------------------

def load(cid: str, run_dir: str = RUN_DIR, proc: str = PROC) -> Container | None:
    """The container ``cid`` (full id), None if it has no readable state."""
    cdir = container_dir(cid, run_dir)
    st = read_json(os.path.join(cdir, "state.json"))
    if st is None:
        return None
    pid, start = st.get("pid"), st.get("starttime")
    mpid, mstart = st.get("monitor_pid"), st.get("monitor_starttime")
    recorded = st.get("status", CREATING)
    crashed = False
    if recorded == STOPPED:
        status = STOPPED
    elif is_alive(pid, start, proc):
        status = RUNNING
    elif is_alive(mpid, mstart, proc):
        # the supervisor is still at work: starting it, or recording its end
        status = CREATING if pid is None else STOPPED
    else:
        status, crashed = STOPPED, True
    return Container(
        id=cid, name=st.get("name", ""), pid=pid, starttime=start, status=status,
        cgroup=st.get("cgroup", f"{CGROUP_PARENT}/{cid}"), rootfs=st.get("rootfs", ""),
        command=tuple(st.get("command", ())), created=st.get("created", 0.0),
        exit_code=st.get("exit_code"), monitor_pid=mpid, monitor_starttime=mstart,
        detach=bool(st.get("detach")), remove=bool(st.get("remove")), dir=cdir,
        crashed=crashed)


def list_containers(run_dir: str = RUN_DIR, proc: str = PROC) -> list[Container]:
    """nsscope's own containers, oldest first, with their live status."""
    try:
        ids = os.listdir(containers_dir(run_dir))
    except FileNotFoundError:
        return []
    out = [c for c in (load(cid, run_dir, proc) for cid in ids if not cid.startswith("."))
           if c is not None]
    out.sort(key=lambda c: (c.created, c.id))
    return out


def find(text: str, run_dir: str = RUN_DIR, proc: str = PROC) -> Container:
    """A container by name, full id or unique id prefix (BadInput otherwise)."""
    text = text.strip()
    if not text or "/" in text or text.startswith("."):
        raise BadInput(f"no such container: {text!r}")
    try:
        cid = os.readlink(os.path.join(names_dir(run_dir), text))
    except OSError:
        cid = None
    if cid:
        found = load(cid, run_dir, proc)
        if found is not None:
            return found
    try:
        ids = os.listdir(containers_dir(run_dir))
    except FileNotFoundError:
        ids = []
    matches = [i for i in ids if i.startswith(text)]
    if len(matches) > 1:
        raise BadInput(f"container id prefix {text!r} is ambiguous ({len(matches)} match)")
    found = load(matches[0], run_dir, proc) if matches else None
    if found is None:
        raise BadInput(f"no such container: {text!r}")
    return found


# --- names --------------------------------------------------------------------------

def reserve_name(name: str, cid: str, run_dir: str = RUN_DIR) -> None:
    """Take ``name`` for ``cid``; BadInput if a live container has it."""
    d = names_dir(run_dir)
    os.makedirs(d, mode=0o700, exist_ok=True)
    link = os.path.join(d, name)
    for _ in range(2):
        try:
            os.symlink(cid, link)
            return
        except FileExistsError:
            pass
        try:
            owner = os.readlink(link)
        except FileNotFoundError:
            continue
        if os.path.isdir(container_dir(owner, run_dir)):
            raise BadInput(f"the name {name!r} is taken by container {owner[:12]} "
                           f"(nsscope rm {name})")
        release_name(name, owner, run_dir)  # left by a removed container
    raise BadInput(f"the name {name!r} is being taken by another run")


def release_name(name: str, cid: str, run_dir: str = RUN_DIR) -> None:
    """Remove the name link if it still points at ``cid``."""
    link = os.path.join(names_dir(run_dir), name)
    try:
        if os.readlink(link) == cid:
            os.unlink(link)
    except OSError as e:
        if e.errno not in (errno.ENOENT, errno.EINVAL):
            raise


def stale_names(run_dir: str = RUN_DIR) -> list[str]:
    """Name links whose container directory is gone."""
    out: list[str] = []
    try:
        names = os.listdir(names_dir(run_dir))
    except FileNotFoundError:
        return out
    for name in names:
        try:
            cid = os.readlink(os.path.join(names_dir(run_dir), name))
        except OSError:
            continue
        if not os.path.isdir(container_dir(cid, run_dir)):
            out.append(name)
    return out

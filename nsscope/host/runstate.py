"""nsscope run's records of its own containers, read: what ``ps``, ``stop`` and the
recogniser need to know of them.

``/run/nsscope/containers/<id>/`` holds ``config.json`` (the spec),
``state.json`` (pid, start time, status, exit code; replaced atomically, never
written in place), ``log`` for ``-d``, and the overlay's ``upper``/``work``.
``/run/nsscope/names/<name>`` is a symlink to the id: creating it is the atomic
reservation of a name. The writing half is ``nsscope.actions.run.state``.

The recorded status is a hint; the truth comes from the kernel, as youki does
(libcontainer/src/container/container.rs refresh_status): a container is running
while its PID 1 exists with the recorded start time (pids are reused) and is not
a zombie. A supervisor that died without recording the end ("crashed") is what
``nsscope gc`` cleans up after.

Light on purpose: every ``nsscope run`` imports it (no json at import time).
"""

from __future__ import annotations

import os

from nsscope.errors import BadInput
from nsscope.kernel.abi import PROC
from nsscope.records import Record

RUN_DIR = "/run/nsscope"
#: cgroup path of every container, in every hierarchy it joins: CGROUP_PARENT/<id>
CGROUP_PARENT = "/nsscope"

CREATING, RUNNING, STOPPED = "creating", "running", "stopped"

class RunRecord(Record):
    """One of nsscope's own containers as its records say (runtime "nsscope"); the
    recogniser turns it into a model ``Container``."""

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
    #: unix time its PID 1 ended, as the supervisor recorded it; None until then
    finished: float | None = None

    @property
    def short_id(self) -> str:
        return self.id[:12]


def containers_dir(run_dir: str = RUN_DIR) -> str:
    return os.path.join(run_dir, "containers")


def container_dir(cid: str, run_dir: str = RUN_DIR) -> str:
    return os.path.join(run_dir, "containers", cid)


def names_dir(run_dir: str = RUN_DIR) -> str:
    return os.path.join(run_dir, "names")



def read_json(path: str) -> dict | None:
    # json.loads without the json package (~9 ms with re: `nsscope ps` reads these;
    # nsscope/jsontext.py); imported here, not on the way of a run
    from nsscope.jsontext import loads
    try:
        with open(path, "rb") as f:
            return loads(f.read().decode("utf-8"))  # nsscope writes them (actions/run/state)
    except (OSError, ValueError):
        return None



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

def load(cid: str, run_dir: str = RUN_DIR, proc: str = PROC) -> RunRecord | None:
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
    return RunRecord(
        id=cid, name=st.get("name", ""), pid=pid, starttime=start, status=status,
        cgroup=st.get("cgroup", f"{CGROUP_PARENT}/{cid}"), rootfs=st.get("rootfs", ""),
        command=tuple(st.get("command", ())), created=st.get("created", 0.0),
        exit_code=st.get("exit_code"), monitor_pid=mpid, monitor_starttime=mstart,
        detach=bool(st.get("detach")), remove=bool(st.get("remove")), dir=cdir,
        crashed=crashed, finished=st.get("finished"))


def list_containers(run_dir: str = RUN_DIR, proc: str = PROC) -> list[RunRecord]:
    """nsscope's own containers, oldest first, with their live status."""
    try:
        ids = os.listdir(containers_dir(run_dir))
    except FileNotFoundError:
        return []
    out = [c for c in (load(cid, run_dir, proc) for cid in ids if not cid.startswith("."))
           if c is not None]
    out.sort(key=lambda c: (c.created, c.id))
    return out


def find(text: str, run_dir: str = RUN_DIR, proc: str = PROC) -> RunRecord:
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



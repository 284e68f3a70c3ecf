"""Turning what the user typed into the one process or container it names, or refusing.

Every command that acts on something (show, enter, throttle) goes through
``resolve``, so they all accept the same targets:

- ``pid:PID`` the process PID; ``pid:PID@START`` only while PID still has that
  start time (field 22 of /proc/PID/stat, ``starttime`` in ``show --json``):
  the TUI passes this, so a pid reused meanwhile is refused, never acted on;
- ``id:ID`` a container by its id or a unique prefix of ids (names ignored);
- ``name:NAME`` a container by name (``POD/NAME``, ``NAMESPACE/POD/NAME`` too);
- ``ns:INODE`` the container or sandbox whose processes are in that namespace
  (``nsscope ps`` prints a sandbox's id as its namespace's inode);
- anything else is guessed, and refused as soon as two things fit: an exact
  container name, then an exact id, then a prefix of exactly one container's id
  and of no container's name (``host/naming.py``). All digits may
  also be a pid (pids go up to 4,194,304): a live pid that is also a
  container's name or id, or the start of one, is refused with the ways to say
  which is meant.

Names are looked up in the runtimes' state files and cgroup paths first (the
quick index, ``host/candidates.py``); a full snapshot is taken only when
those cannot answer for sure.
"""

from __future__ import annotations

from nsscope.errors import BadInput, NoSuchProcess, NsscopeError
from nsscope.host import processes
from nsscope.host.target import Target
from nsscope.kernel.abi import PROC

TYPE_CHECKING = False
if TYPE_CHECKING:
    from nsscope.host.containers.state_paths import StatePaths
    from nsscope.host.model import Container, Snapshot

#: the explicit forms (``FORM:VALUE``)
FORMS = ("pid", "id", "name", "ns")


def _digits(text: str) -> bool:
    # str.isdigit alone takes '²' and Arabic-Indic digits; int() would take them too
    return text.isascii() and text.isdigit()


def _live_start(pid: int, proc: str) -> int | None:
    """The start time of ``pid`` if it is a live process (or thread); None if not."""
    if pid <= 0:
        return None
    try:
        return processes.starttime(pid, proc)
    except NoSuchProcess:
        return None


def resolve(text: str, proc: str = PROC, state: StatePaths | None = None) -> Target:
    """The one thing ``text`` names (see the module doc); BadInput when it is ambiguous
    or malformed, NoSuchProcess / NsscopeError when nothing fits."""
    text = text.strip()
    form, sep, value = text.partition(":")
    if sep and form in FORMS:
        if form == "pid":
            return _pid_form(value, proc)
        if not value:
            raise BadInput(f"{form}: wants a value ({form}:…)")
        return _container(form, value, proc, state)
    if _digits(text):
        pid = int(text)
        start = _live_start(pid, proc)
        if start is None:
            return _container("auto", text, proc, state, pid_gone=True)
        _refuse_if_container(text, pid, proc, state)
        return Target(pid=pid, starttime=start)
    if text.isdigit() or (text.startswith("-") and text[1:].isdigit()):
        raise BadInput(f"not a pid: {text!r} (pids are positive numbers in ASCII digits)")
    return _container("auto", text, proc, state)


def _pid_form(value: str, proc: str) -> Target:
    """``pid:PID`` or ``pid:PID@START``."""
    pid_text, at, start_text = value.partition("@")
    if not _digits(pid_text) or int(pid_text) <= 0 or (at and not _digits(start_text)):
        raise BadInput(f"bad target pid:{value}: give pid:PID or pid:PID@START "
                       "(positive ASCII numbers)")
    pid = int(pid_text)
    start = processes.starttime(pid, proc)
    if at and start != int(start_text):
        raise NoSuchProcess(pid, f"process {pid} (started at {start_text}) exited: its pid "
                                 "now names another process, which is left alone")
    return Target(pid=pid, starttime=start)


def _refuse_if_container(text: str, pid: int, proc: str, state: StatePaths | None) -> None:
    """A live pid whose digits also fit a container (by name, id or the start of one)."""
    from nsscope.host.naming import Fit
    from nsscope.host.candidates import candidates

    found = candidates(text, proc, state, digits=True)
    fit = Fit(found.containers, text)
    if not fit:
        return
    comm = _comm(pid, proc)
    raise BadInput(f"{text} is ambiguous: it is pid {pid}{comm}, and {fit.how(text)}; say "
                   f"pid:{text} for the process, or id:ID / name:NAME for the container")


def _comm(pid: int, proc: str) -> str:
    try:
        with open(f"{proc}/{pid}/comm", "rb") as f:
            return f" ({f.read().decode('utf-8', 'replace').strip()})"
    except OSError:
        return ""


def _container(form: str, text: str, proc: str, state: StatePaths | None,
               pid_gone: bool = False) -> Target:
    """The container ``text`` names in ``form`` (auto, id, name, ns)."""
    from nsscope.host.naming import choose
    from nsscope.host.candidates import candidates

    found = candidates(text, proc, state, ns=form == "ns")
    try:
        if form == "ns":
            c = _by_namespace(found.snapshot(), text)
        else:
            c = choose(found.containers, text, form)
    except NsscopeError as e:
        if isinstance(e, BadInput):
            raise
        raise _nothing(form, text, found.blind, pid_gone) from None
    return found.target_of(c)


def _nothing(form: str, text: str, blind: tuple[str, ...], pid_gone: bool) -> NsscopeError:
    """Nothing fits: say so, and what could not be looked at (never 'no such' for
    what could not be read)."""
    if form == "ns":
        what = f"no container or sandbox is in namespace {text}"
    elif form == "name":
        what = f"no container is named {text!r}"
    elif form == "id":
        what = f"no container's id is or starts with {text!r}"
    elif pid_gone and text.strip("0") == "":
        what = f"not a pid: {text!r} (pids start at 1), nor a container's name or id"
    elif pid_gone:
        what = f"no such process or container: {text}"
    else:
        what = f"no such container: {text}"
    if blind:
        # never "no such" of what could not be looked at (issue 13, point 4)
        what = (f"cannot tell whether {text!r} names a container: none that this user can "
                f"see fits it, and {'; '.join(blind)} (run as root to look there too)")
    return NsscopeError(what)


def _by_namespace(snap: Snapshot, text: str) -> Container:
    """``ns:INODE``: the containers whose main process is in namespace INODE."""
    if not _digits(text):
        raise BadInput(f"bad target ns:{text}: give a namespace inode, as `nsscope ls` and "
                       "`nsscope ps` print it")
    from nsscope.host.naming import listing

    ino = int(text)
    if ino in snap.host_ns.values():
        raise BadInput(f"namespace {ino} is the host's: every process not isolated from the "
                       "host is in it; name a process (pid:PID) or a container")
    hits = []
    for c in snap.containers:
        p = snap.processes.get(c.pid) if c.pid is not None else None
        if c.id == text or (p is not None and ino in p.ns.values()):
            hits.append(c)
    if len(hits) == 1:
        return hits[0]
    if len(hits) > 1:
        raise BadInput(f"namespace {ino} holds {len(hits)} containers: "
                       f"{listing(hits)}; name one (id:ID)")
    raise NsscopeError(f"no container or sandbox is in namespace {ino}")


def check_alive(target: Target, proc: str = PROC) -> None:
    """NoSuchProcess if the pid is gone or now names another process (pid reuse)."""
    if processes.starttime(target.pid, proc) != target.starttime:
        raise NoSuchProcess(target.pid, f"process {target.pid} exited (its pid now names "
                                        "another process)")

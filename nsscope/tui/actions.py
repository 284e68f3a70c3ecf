"""The actions' command lines: enter, throttle, reset, stop — each run as ``nsscope …``.

The TUI does not setns or write cgroup files itself: it runs the same
commands a user would type (``sys.executable -m nsscope``), so an action
behaves exactly as on the command line and its errors are the CLI's one-line
messages. This module only decides the argv, or says why there is none.

An argv names exactly what is selected, never a string to be guessed again:
a process as ``pid:PID@START`` (its start time: a pid reused since the frame
was taken is refused, not acted on), a container as ``id:ID`` (its whole id).
"""

from __future__ import annotations

import os
import sys
from typing import NamedTuple

from nsscope.host import labels
from nsscope.tui.frame import Frame
from nsscope.tui.outlines import Ref
from nsscope.tui.selection import subject_of

#: namespace type -> the `nsscope enter` flag that enters only that type
#: seconds k waits for a container's PID 1 to exit on SIGTERM before SIGKILL (nsscope
#: stop's default -t, docker stop's)
STOP_GRACE = 10.0

ENTER_FLAGS = {"mnt": "--mount", "uts": "--uts", "ipc": "--ipc", "net": "--net",
               "pid": "--pid", "cgroup": "--cgroup", "user": "--user", "time": "--time"}


class Invocation(NamedTuple):
    """An action's argv, or None and the reason it cannot be done."""

    argv: list[str] | None
    why: str = ""
    #: what the action acts on, for messages ("pid 4242", "docker web")
    what: str = ""
    #: pids whose records change (the collector re-reads them at once)
    pids: tuple[int, ...] = ()
    #: the exact TARGET the argv names (a stop's container id)
    target: str = ""
    #: (pid, start time) of the process the action ends (a container's PID 1)
    main: tuple[int, int] | None = None


def nsscope(*args: str) -> list[str]:
    return [sys.executable, "-m", "nsscope", *args]


def read_only_reason(live_host: bool, euid: int | None = None) -> str | None:
    """Why actions are off altogether: not root, or not looking at this host."""
    if not live_host:
        return "read-only: this is a captured scenario, not this host"
    euid = os.geteuid() if euid is None else euid
    if euid != 0:
        return (f"read-only: nsscope runs as uid {euid}; entering other users' namespaces "
                "needs CAP_SYS_ADMIN and changing a cgroup's limits needs write access to "
                "its files — run nsscope as root")
    return None


def _process_target(frame: Frame, pid: int, verb: str) -> Invocation | tuple[str, str]:
    p = frame.process(pid)
    if p is None:
        return Invocation(None, f"process {pid} is gone")
    if p.kernel_thread:
        return Invocation(None, f"{pid} ({p.comm}) is a kernel thread: it cannot be {verb}")
    return f"pid:{pid}@{p.starttime}", f"pid {pid} ({p.comm})"


def enter_plan(frame: Frame, ref: Ref, shell: str | None = None) -> Invocation:
    """`nsscope enter` the selection, with the user's $SHELL when the target has it
    (--shell: else the target's own shell, silently)."""
    shell = shell or os.environ.get("SHELL") or "/bin/sh"
    kind, ident = ref
    flags: list[str] = []
    if kind == "process":
        pid = ident
    elif kind == "container":
        c = frame.container(ident)
        if c is None or c.pid is None:
            return Invocation(None, "this container has no running process to enter")
        pid = c.pid
    elif kind == "namespace":
        ns = frame.snapshot.namespaces.get(ident)
        if ns is None or not ns.pids:
            return Invocation(None, "no process is in this namespace: nothing to enter through")
        pid = ns.pids[0]
        flags = [ENTER_FLAGS[ns.type]]
    elif kind == "cgroup":
        cg = frame.snapshot.cgroups.get(ident)
        if cg is None or not cg.procs:
            return Invocation(None, "this cgroup has no process to enter")
        pid = cg.procs[0]
    else:
        return Invocation(None, "select a process, container, namespace or cgroup to enter")
    got = _process_target(frame, pid, "entered")
    if isinstance(got, Invocation):
        return got
    target, what = got
    if flags:
        what = f"the {ident} {flags[0][2:]} namespace via {what}"
    elif kind == "container" and (c := frame.container(ident)) is not None:
        what = f"{labels.title(c)}, {what}"
    shell_args = ["--shell", shell] if shell.startswith("/") else []
    return Invocation(nsscope("enter", target, *flags, *shell_args), what=what, pids=(pid,))


def _limit_target(frame: Frame, ref: Ref) -> Invocation | tuple[str, str, tuple[int, ...]]:
    """The TARGET for `nsscope throttle`: a container's id, or a pid."""
    kind, ident = ref
    if kind == "process":
        got = _process_target(frame, ident, "throttled")
        if isinstance(got, Invocation):
            return got
        return got[0], got[1], (ident,)
    if kind == "container":
        c = frame.container(ident)
        if c is None:
            return Invocation(None, "the container is gone")
        if c.sandbox:
            if c.pid is None:
                return Invocation(None, "this sandbox has no process")
            got = _process_target(frame, c.pid, "throttled")
            if isinstance(got, Invocation):
                return got
            return got[0], got[1], (c.pid,)
        return f"id:{c.id}", labels.title(c), frame.members(c)
    if kind == "cgroup":
        cg = frame.snapshot.cgroups.get(ident)
        if cg is None or not cg.procs:
            return Invocation(None, "this cgroup has no process; throttle takes a pid or a "
                              "container")
        members = set(cg.procs)
        tops = [pid for pid in cg.procs
                if (p := frame.process(pid)) is None or p.ppid not in members]
        if len(tops) != 1:
            # `nsscope throttle PID` limits a cgroup in place only when it holds the
            # process and its descendants; otherwise it moves the process out
            return Invocation(None, f"this cgroup holds {len(tops)} unrelated processes and "
                              "`nsscope throttle` takes a pid (which it would move to a "
                              "cgroup of its own) or a container: select one of those")
        got = _process_target(frame, tops[0], "throttled")
        if isinstance(got, Invocation):
            return got
        return got[0], f"cgroup {ident} ({got[1]})", cg.procs
    return Invocation(None, "select a container, a cgroup or a process to throttle")


def throttle_plan(frame: Frame, ref: Ref, value: str) -> Invocation:
    got = _limit_target(frame, ref)
    if isinstance(got, Invocation):
        return got
    target, what, pids = got
    return Invocation(nsscope("throttle", target, value), what=what, pids=tuple(pids))


def reset_plan(frame: Frame, ref: Ref) -> Invocation:
    got = _limit_target(frame, ref)
    if isinstance(got, Invocation):
        return got
    target, what, pids = got
    return Invocation(nsscope("throttle", target, "--reset"), what=what, pids=tuple(pids))


def stop_plan(frame: Frame, ref: Ref) -> Invocation:
    kind, ident = ref
    c = frame.container(ident) if kind == "container" else None
    if kind == "process":
        c = frame.container_of(ident)
    if c is None:
        return Invocation(None, "select a container made by `nsscope run` to stop it")
    if c.runtime != "nsscope":
        return Invocation(None, f"{c.name} belongs to {c.runtime}: k stops only containers made by "
                          f"`nsscope run` (use {c.runtime}'s own tools for the others)")
    p = frame.process(c.pid)
    main = (p.pid, p.starttime) if p is not None else None
    return Invocation(nsscope("stop", c.id), what=labels.title(c), pids=frame.members(c),
                target=c.id, main=main)


def stop_steps(plan: Invocation) -> tuple[list[str], list[str], list[str]]:
    """k in three commands, so the TUI can say where it is: SIGTERM to PID 1 (``nsscope
    kill -s TERM``); then, PID 1 gone, ``nsscope stop`` (waits for the supervisor,
    cleans up); or, PID 1 still there after the grace, ``nsscope stop -t 0`` (SIGKILL
    at once, then the same). nsscope stop alone would do the same in one command but
    not say whether it had to kill."""
    return (nsscope("kill", "-s", "TERM", plan.target), nsscope("stop", plan.target),
            nsscope("stop", "-t", "0", plan.target))


def current_limit(frame: Frame, ref: Ref) -> str:
    """The limit to start the throttle dialog from: the cgroup's, else 50 %."""
    path, _ = subject_of(frame, ref)
    cg = frame.snapshot.cgroups.get(path) if path else None
    limit = cg.cpu.limit_cpus if cg is not None and cg.cpu is not None else None
    if limit is None:
        return "50%"
    return f"{round(limit * 100)}%"

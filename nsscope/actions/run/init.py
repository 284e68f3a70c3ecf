"""The tiny PID 1 of ``nsscope run --init`` (what tini and docker-init do).

Without it, CMD is PID 1, and the kernel delivers no signal to a pid
namespace's init unless it installed a handler — SIGKILL and SIGSTOP from an
ancestor namespace excepted (pid_namespaces(7), kernel/signal.c
sig_task_ignored). A shell or ``sleep`` as PID 1 therefore ignores SIGTERM and
SIGINT, and never reaps the orphans the kernel reparents to it.

This init forks CMD, forwards every signal it can catch to it, reaps every
child, and exits with CMD's status (128+N if a signal N killed it). When it
exits, the kernel kills what is left in the namespace. It runs in PID 1's
interpreter after ``pivot_root``: everything it uses is imported already.
"""

from __future__ import annotations

import os

from nsscope.kernel import syscalls as sc
from nsscope.kernel.syscalls import signals as signal  # _signal: no enum import (syscalls.py)

#: not forwarded: the ones that cannot be caught, SIGCHLD (ours), and the
#: synchronous faults that only make sense for the process that caused them
_NOT_FORWARDED = {signal.SIGKILL, signal.SIGSTOP, signal.SIGCHLD, signal.SIGSEGV,
                  signal.SIGBUS, signal.SIGILL, signal.SIGFPE, signal.SIGABRT, signal.SIGTRAP,
                  signal.SIGSYS}
FORWARDED = {s for s in signal.valid_signals() if s not in _NOT_FORWARDED
             and 0 < int(s) < signal.SIGRTMIN}


def set_title(*words: str) -> None:
    """Rewrite our /proc/PID/cmdline in place, as setproctitle(3) does: the kernel
    reads it from the argv area of our memory, [arg_start, arg_end) (fields 48
    and 49 of /proc/PID/stat, proc(5)). It cannot grow; the rest is zeroed.
    PR_SET_MM would need CAP_SYS_RESOURCE, which this host's bounding set lacks."""
    # loaded already (this import only looks it up: it also runs after pivot_root);
    # not at the top, so the supervisor, which needs exit_code, need not
    from nsscope.kernel import syscalls
    try:
        with open("/proc/self/stat", "rb") as f:
            stat = f.read()
        fields = stat[stat.rindex(b")") + 2:].split()
        # field N is fields[N - 3]: the list starts at field 3 (state)
        start, end = int(fields[48 - 3]), int(fields[49 - 3])
    except (OSError, ValueError, IndexError):
        return
    size = end - start
    if not 1 < size < 1 << 20:
        return
    title = b"\0".join(w.encode() for w in words)[:size - 1]
    syscalls.memmove(start, title + b"\0" * (size - len(title)))


def exit_code(status: int) -> int:
    """A wait status as a shell reports it."""
    if os.WIFSIGNALED(status):
        return 128 + os.WTERMSIG(status)
    return os.waitstatus_to_exitcode(status) if os.WIFEXITED(status) else 1


def run(argv: list[str], exec_cmd, tty: bool, subreaper: bool, after_fork) -> None:
    """Fork CMD (``exec_cmd`` execs it in the child), then supervise it; never returns.

    ``after_fork`` runs in init once CMD is forked (it closes init's copy of the
    supervisor's pipes, so their EOF means that CMD is running).
    """
    if subreaper:
        # not PID 1 (the pid namespace is shared): orphans come to us anyway (prctl(2))
        sc.prctl(sc.PR_SET_CHILD_SUBREAPER, 1)
    try:
        sc.prctl(sc.PR_SET_NAME, b"nsscope-init")
    except OSError:
        pass
    set_title("nsscope-init", "--", *argv)
    # block before fork: a signal arriving before the handler knows the child is kept
    signal.pthread_sigmask(signal.SIG_BLOCK, FORWARDED)
    child = os.fork()
    if child == 0:
        # CMD gets its own process group, the terminal's foreground one with -t, so
        # ^C reaches it once (from the tty), not twice (tty, then our forward).
        # SIGTTOU is blocked here, so tcsetpgrp from the background is allowed.
        os.setpgid(0, 0)
        if tty:
            try:
                os.tcsetpgrp(0, os.getpid())
            except OSError:
                pass
        signal.pthread_sigmask(signal.SIG_SETMASK, set())
        exec_cmd()  # does not return

    after_fork()

    def forward(signum, _frame):
        try:
            os.kill(child, signum)
        except ProcessLookupError:
            pass

    for s in FORWARDED:
        signal.signal(s, forward)
    signal.pthread_sigmask(signal.SIG_SETMASK, set())
    code = 1
    while True:
        try:
            pid, status = os.waitpid(-1, 0)
        except ChildProcessError:
            break
        if pid == child:
            code = exit_code(status)
            break
    os._exit(code)

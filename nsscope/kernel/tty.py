"""The controlling terminal handed to a child and taken back, as a job-control shell
does: the foreground process group (tcsetpgrp(3)) and the termios modes.

An interactive shell makes itself a process group and the terminal's foreground
one, and on exit gives the terminal back to the group it found there (dash
jobs.c setjobctl(), bash jobs.c end_job_control()). Entered into a container's
pid namespace, the group it found is not visible to it (getpgrp(2) says 0), so
the hand-back fails ("Cannot set tty process group") and the terminal stays
with a group that no longer exists: the caller's shell, or the TUI, can then
neither read nor set modes (SIGTTIN/SIGTTOU). A shell killed with SIGKILL gives
nothing back at all, and leaves its line-editing modes. So whoever hands the
terminal over takes it back, whatever the child did: ``claim`` before,
``take_back`` after.

tcsetpgrp from a background group raises SIGTTOU unless the caller blocks or
ignores it (drivers/tty/tty_jobctrl.c, tty_check_change()): these functions
block it around the call, in the calling thread only.
"""

from __future__ import annotations

import os
import termios

# _signal rather than signal: the enter fast path imports this (see actions/enter.py)
try:
    import _signal as signal
except ImportError:  # not CPython
    import signal  # type: ignore[no-redef]

#: the job-control signals a process gets for touching a terminal it does not own
_TTY_SIGNALS = {signal.SIGTTOU, signal.SIGTTIN}


class Terminal:
    """A terminal this process's group owned (was the foreground of), and its modes then."""

    __slots__ = ("attrs", "fd", "pgrp")

    def __init__(self, fd: int, pgrp: int, attrs: list) -> None:
        self.fd = fd
        #: the foreground process group to give the terminal back to
        self.pgrp = pgrp
        #: termios.tcgetattr() of that moment
        self.attrs = attrs


def claim(fd: int = 0) -> Terminal | None:
    """The terminal on ``fd`` with its owner and modes, when this process's group is its
    foreground group; None when ``fd`` is no terminal or another group owns it (we run
    in the background: nothing of the terminal is ours to hand over)."""
    try:
        if not os.isatty(fd):
            return None
        pgrp = os.tcgetpgrp(fd)
        if pgrp != os.getpgrp():
            return None
        return Terminal(fd, pgrp, termios.tcgetattr(fd))
    except (OSError, termios.error):
        return None


def give(term: Terminal, pgrp: int) -> bool:
    """Make ``pgrp`` the terminal's foreground group; False if the kernel refused (the
    group is gone, or the terminal is no longer ours)."""
    old = signal.pthread_sigmask(signal.SIG_BLOCK, _TTY_SIGNALS)
    try:
        os.tcsetpgrp(term.fd, pgrp)
        return True
    except OSError:
        return False
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


def modes(term: Terminal) -> list | None:
    """The terminal's modes now (None if it cannot be read)."""
    try:
        return termios.tcgetattr(term.fd)
    except (OSError, termios.error):
        return None


def set_modes(term: Terminal, attrs: list | None) -> None:
    if attrs is None:
        return
    old = signal.pthread_sigmask(signal.SIG_BLOCK, _TTY_SIGNALS)
    try:
        # TCSADRAIN: after what was written is out; typed input is kept (TCSAFLUSH
        # would drop what the user typed meanwhile)
        termios.tcsetattr(term.fd, termios.TCSADRAIN, attrs)
    except (OSError, termios.error):
        pass
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


def hung_up(term: Terminal) -> bool:
    """Whether the terminal was hung up (its emulator closed: poll(2) says POLLHUP).

    The kernel sends SIGHUP on hangup only to the session leader and the foreground
    group (drivers/tty/tty_io.c, __tty_hangup()); a process that handed the terminal
    over is in neither, keeps running, and every read of the terminal then fails at
    once (EIO): whoever takes a terminal back checks this first.
    """
    import select  # not on the enter fast path: only the TUI asks

    try:
        poller = select.poll()
        poller.register(term.fd, select.POLLIN)
        return any(ev & (select.POLLHUP | select.POLLNVAL) for _, ev in poller.poll(0))
    except OSError:
        return True


def take_back(term: Terminal) -> None:
    """The terminal back to the group that owned it, with the modes it had: whatever the
    child did to it, or left undone when it died."""
    give(term, term.pgrp)
    set_modes(term, term.attrs)

"""The few exceptions nsscope raises (psutil's pattern).

They are raised at the edge where /proc or cgroupfs is read or written; the
CLI turns each into one line on stderr and an exit code.
"""

from __future__ import annotations


class NsscopeError(Exception):
    """Something the user asked for cannot be done; the message says why."""

    exit_code = 1


class BadInput(NsscopeError):
    """The command line names something malformed (a pid of 'abc', a bogus type)."""

    exit_code = 2


class NoSuchProcess(NsscopeError):
    """The process does not exist (or exited while we looked)."""

    def __init__(self, pid: int, msg: str | None = None) -> None:
        self.pid = pid
        super().__init__(msg or f"no such process: {pid}")


class AccessDenied(NsscopeError):
    """The kernel refused to show or change something (EACCES/EPERM)."""

    def __init__(self, what: str, msg: str | None = None) -> None:
        self.what = what
        super().__init__(msg or f"permission denied: {what}")

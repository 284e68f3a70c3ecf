"""One timed run of a command, as the benchmarks that race start-up times need it."""

from __future__ import annotations

import os
import time


def timed(argv: list[str], *, keep_stderr: bool = True) -> tuple[float, float]:
    """(wall seconds, CPU seconds of the process and its children) of one run, its
    stdout (and unless ``keep_stderr``, its stderr) thrown away; a failed run raises.
    fork+exec and wait4(2) directly: subprocess would add its own cost to each run."""
    t = time.perf_counter()
    pid = os.fork()
    if pid == 0:
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, 1)
            if not keep_stderr:
                os.dup2(devnull, 2)
            os.execvp(argv[0], argv)
        finally:
            os._exit(127)
    _, status, usage = os.wait4(pid, 0)
    wall = time.perf_counter() - t
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{argv} failed: status {status}")
    return wall, usage.ru_utime + usage.ru_stime

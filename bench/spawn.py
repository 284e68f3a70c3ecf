"""Spawn N idle processes for benchmarks; a share of them in namespaces of their own.

Run as: python bench/spawn.py N SHARE  -> prints 'ready' and waits on stdin;
closing stdin (or killing it) kills every child (PR_SET_PDEATHSIG).
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys

from nsscope.kernel import abi
from nsscope.kernel import syscalls

PR_SET_PDEATHSIG = 1


def child(isolate: bool) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if isolate:
        try:
            syscalls.unshare(abi.CLONE_NEWUTS | abi.CLONE_NEWIPC)
        except OSError:
            pass
    while True:
        signal.pause()


def main() -> None:
    n = int(sys.argv[1])
    share = float(sys.argv[2]) if len(sys.argv) > 2 else 0.1
    every = int(1 / share) if share > 0 else 0
    kids = []
    for i in range(n):
        pid = os.fork()
        if pid == 0:
            try:
                child(bool(every) and i % every == 0)
            finally:
                os._exit(0)
        kids.append(pid)
    print("ready", flush=True)
    sys.stdin.read()
    for pid in kids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    for pid in kids:
        os.waitpid(pid, 0)


if __name__ == "__main__":
    main()

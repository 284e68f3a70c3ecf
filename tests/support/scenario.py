"""Namespace scenarios made with the real tools (unshare, ip netns), for tests.

Each returns live processes the test owns; ``Scenario.close()`` kills them and
removes what they made.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field


def wait_for(pred, timeout: float = 10.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def ns_ino(pid: int, link: str) -> int:
    text = os.readlink(f"/proc/{pid}/ns/{link}")
    return int(text[text.index("[") + 1:-1])


def leaf_pid(pid: int) -> int:
    """The deepest single-child descendant (unshare --fork puts the payload below it)."""
    while True:
        try:
            with open(f"/proc/{pid}/task/{pid}/children") as f:
                kids = f.read().split()
        except OSError:
            return pid
        if len(kids) != 1:
            return pid
        pid = int(kids[0])

@dataclass
class Scenario:
    procs: list[subprocess.Popen] = field(default_factory=list)
    netns: list[str] = field(default_factory=list)
    fds: list[int] = field(default_factory=list)

    def spawn(self, argv: list[str], settle: str | None = None) -> int:
        """Start argv; return the pid of the payload (below unshare's forks)."""
        p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, start_new_session=True)
        self.procs.append(p)
        if settle:
            # wait until the payload runs `settle` (unshare has exec'd it)
            def ready():
                pid = leaf_pid(p.pid)
                try:
                    with open(f"/proc/{pid}/comm") as f:
                        return pid if f.read().strip() == settle else None
                except OSError:
                    return None
            return wait_for(ready, what=f"{argv} to exec {settle}")
        return p.pid

    def unshare(self, *flags: str) -> int:
        """A `sleep` inside `unshare FLAGS`; returns the sleep's pid."""
        return self.spawn(["unshare", *flags, "sleep", "1000"], settle="sleep")

    def add_netns(self) -> str:
        name = f"nsscope-test-{uuid.uuid4().hex[:8]}"
        subprocess.run(["ip", "netns", "add", name], check=True)
        self.netns.append(name)
        return name

    def fd_held_netns(self) -> tuple[int, int, int]:
        """A net namespace kept alive only by an open fd of a child process.

        Returns (holder pid, fd number, ns inode). The process that made the
        namespace has exited by then.
        """
        code = (
            "import os, sys, time\n"
            "r, w = os.pipe()\n"
            "pid = os.fork()\n"
            "if pid == 0:\n"
            "    os.unshare(os.CLONE_NEWNET) if hasattr(os, 'unshare') else None\n"
            "    os.write(w, b'x'); time.sleep(30); os._exit(0)\n"
            "os.read(r, 1)\n"
            "fd = os.open(f'/proc/{pid}/ns/net', os.O_RDONLY)\n"
            "os.kill(pid, 9); os.waitpid(pid, 0)\n"
            "print(fd, os.fstat(fd).st_ino, flush=True)\n"
            "sys.stdin.read()\n"
        )
        if sys.version_info < (3, 12):
            code = code.replace(
                "os.unshare(os.CLONE_NEWNET) if hasattr(os, 'unshare') else None",
                "import ctypes; assert ctypes.CDLL(None).unshare(0x40000000) == 0")
        p = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True)
        self.procs.append(p)
        fd, ino = map(int, p.stdout.readline().split())
        return p.pid, fd, ino

    def close(self) -> None:
        for p in self.procs:
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                try:
                    p.kill()
                except ProcessLookupError:
                    pass
        for p in self.procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
            for s in (p.stdin, p.stdout, p.stderr):
                if s:
                    s.close()
        for name in self.netns:
            subprocess.run(["ip", "netns", "del", name], check=False)
        self.procs.clear()
        self.netns.clear()

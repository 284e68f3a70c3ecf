"""A real terminal for end-to-end tests: tmux runs a command, keys go in with
send-keys, the screen comes out with capture-pane."""

from __future__ import annotations

import subprocess
import time


def tmux(*args: str) -> str:
    """tmux's output; a failure raises with what tmux said. A new session is tried again:
    when the previous test killed the server's last session, the server is exiting, and
    a client that reaches it then is refused ("server exited unexpectedly")."""
    for attempt in range(5):
        r = subprocess.run(["tmux", *args], capture_output=True, text=True, timeout=30,
                           check=False)
        if r.returncode == 0:
            return r.stdout
        if args[0] != "new-session" or attempt == 4:
            raise AssertionError(f"tmux {' '.join(args)} -> {r.returncode}: {r.stderr.strip()}")
        time.sleep(0.3)
    raise AssertionError("not reached")


def screen(session: str) -> str:
    return tmux("capture-pane", "-p", "-t", session)


def wait_screen(session: str, pred, timeout: float = 30.0, what: str = "") -> str:
    deadline = time.monotonic() + timeout
    text = ""
    while time.monotonic() < deadline:
        text = screen(session)
        if pred(text):
            return text
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}; screen:\n{text}")


def start(session: str, command: str, width: int = 160, height: int = 48) -> None:
    """``command`` in a new detached session; the pane stays after it exits (its
    status is printed as EXIT=N)."""
    # under pytest the tmux server may inherit COLUMNS/LINES (the snapshot plugin sets
    # them), and Textual sizes itself by them first
    tmux("new-session", "-d", "-s", session, "-x", str(width), "-y", str(height),
         f"env -u COLUMNS -u LINES TERM=xterm-256color {command}; echo EXIT=$?; sleep 600")


def kill(session: str) -> None:
    subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True, check=False)

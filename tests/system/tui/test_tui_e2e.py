"""End to end in a real terminal: tmux runs `nsscope`, keys go in with send-keys,
the screen comes out with capture-pane.

A busy loop runs in a cgroup of the test's own; the TUI finds it (Cgroups view,
f follows its pid), shows its limit, throttles it with t, and the throttled
figure appears; q exits and tmux's alternate screen is off again (the terminal
is restored).
"""

from __future__ import annotations

import os
import re
import subprocess
import time

from support import NSSCOPE, need_root, need_tool
from support.cgroupfs import CgroupWithProcess


def _tmux(*args: str) -> str:
    return subprocess.run(["tmux", *args], capture_output=True, text=True, timeout=30,
                          check=True).stdout


def _screen(session: str) -> str:
    return _tmux("capture-pane", "-p", "-t", session)


def _wait_screen(session: str, pred, timeout: float = 30.0, what: str = "") -> str:
    deadline = time.monotonic() + timeout
    screen = ""
    while time.monotonic() < deadline:
        screen = _screen(session)
        if pred(screen):
            return screen
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}; screen:\n{screen}")


def test_tmux_follow_throttle_quit():
    need_root()
    need_tool("tmux")
    name = f"nsscope-test-e2e-{os.getpid()}"
    cg = CgroupWithProcess(name, ["sh", "-c", "while :; do :; done"])
    pid = cg.proc.pid
    session = name
    try:
        _tmux("new-session", "-d", "-s", session, "-x", "160", "-y", "48",
              # under pytest the tmux server may inherit COLUMNS=80/LINES=24 (set
              # by the snapshot plugin), and Textual sizes itself by them first
              f"env -u COLUMNS -u LINES TERM=xterm-256color {NSSCOPE}; "
              "echo NSSCOPE-EXIT=$?; sleep 600")
        _wait_screen(session, lambda s: " processes " in s, what="the TUI")
        assert _tmux("display", "-p", "-t", session, "#{alternate_on}").strip() == "1"
        _tmux("send-keys", "-t", session, "3")
        _wait_screen(session, lambda s: "/ (host)" in s, what="the cgroups view")
        _tmux("send-keys", "-t", session, "f")
        _wait_screen(session, lambda s: "Follow pid (empty" in s, what="the follow dialog")
        _tmux("send-keys", "-t", session, str(pid), "Enter")
        screen = _wait_screen(session, lambda s: f"cgroup  /{name}" in s
                              and "cpu unlimited" in s and f"following {pid}" in s,
                              what="the followed process's cgroup")
        assert not re.search(r"throttled \d+% of periods", screen)
        _tmux("send-keys", "-t", session, "t")
        _wait_screen(session, lambda s: "Throttle pid" in s and "50%" in s,
                     what="the throttle dialog")
        time.sleep(0.5)  # the field takes the focus after the dialog is drawn
        _tmux("send-keys", "-t", session, "C-u")
        _wait_screen(session, lambda s: "0.5 (CPUs) or max" in s, what="the field cleared")
        _tmux("send-keys", "-t", session, "20%")
        _wait_screen(session, lambda s: re.search(r"▊ +20% +▎", s) is not None,
                     what="20% typed")
        _tmux("send-keys", "-t", session, "Enter")
        screen = _wait_screen(
            session, lambda s: "limits  cpu 20%" in s and
            (m := re.search(r"throttled (\d+)% of periods", s)) is not None
            and int(m.group(1)) >= 50, timeout=60, what="the limit and the throttling")
        assert "throttle" in screen  # the action's notification
        _tmux("send-keys", "-t", session, "q")
        screen = _wait_screen(session, lambda s: "NSSCOPE-EXIT=0" in s, what="a clean exit")
        assert " processes " not in screen
        assert _tmux("display", "-p", "-t", session, "#{alternate_on}").strip() == "0"
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True, check=False)
        subprocess.run([NSSCOPE, "throttle", str(pid), "--reset"], capture_output=True, check=False)
        cg.close()

"""End to end in a real terminal: tmux runs `nsscope`, keys go in with send-keys,
the screen comes out with capture-pane.

The terminal handover (issue 13, point 1) is only seen here: Pilot has no
terminal. `e` on a container, a command, `exit` (or the shell SIGKILLed): the
TUI redraws, answers keys, and q quits with status 0; `nsscope enter … -- sh`
from a script leaves the script's terminal readable, with its modes.

A busy loop runs in a cgroup of the test's own; the TUI finds it (Cgroups view,
f follows its pid), shows its limit, throttles it with t, and the throttled
figure appears; q exits and tmux's alternate screen is off again (the terminal
is restored).
"""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import time
from pathlib import Path

import pytest

from support import FIXTURES, NSSCOPE, need_root, need_tool
from support.cgroupfs import CgroupWithProcess
from support.runtimes import CgroupGuard, Oci, busybox_rootfs
from support.tmux import tmux as _tmux
from support.tmux import wait_screen as _wait_screen


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


# --- the replayed scene at 80x24 and 200x50 (issue 15) --------------------------------------

SCENE_APP = ("from nsscope.tui.dev.screenshots import make_app; "
             f"make_app({str(FIXTURES / 'scene-v2')!r}).run()")


def _scene(session: str, width: int, height: int) -> None:
    need_tool("tmux")
    python = str(Path(NSSCOPE).with_name("python"))
    _tmux("new-session", "-d", "-s", session, "-x", str(width), "-y", str(height),
          f"env -u COLUMNS -u LINES TERM=xterm-256color {python} -c {shlex.quote(SCENE_APP)}; "
          "sleep 600")
    # the five minutes of the scene replayed: the 300th frame's figures are on screen
    _wait_screen(session, lambda s: " processes " in s and "docker  3 containers" in s,
                 timeout=60, what="the scene")
    time.sleep(3)


def test_scene_at_200x50_nothing_wraps_mid_value():
    session = f"nsscope-test-scene200-{os.getpid()}"
    try:
        _scene(session, 200, 50)
        _tmux("send-keys", "-t", session, "3")
        _wait_screen(session, lambda s: "/ (host)" in s, what="the cgroups view")
        _tmux("send-keys", "-t", session, "f")
        _wait_screen(session, lambda s: "Follow pid (empty" in s, what="the follow dialog")
        _tmux("send-keys", "-t", session, "306", "Enter")  # batch's stress
        screen = _wait_screen(session, lambda s: "following 306" in s and "limits  " in s,
                              what="batch's process")
        lines = screen.splitlines()
        right = [line.split("▕", 1)[1] for line in lines if "▕" in line]
        # whole values: the limit with its cpu.max, memory and pids, each on one line
        assert any("limits  cpu 20% (cpu.max 20000 100000)" in r for r in right), screen
        assert any("memory 0.6 MiB / 64.0 MiB" in r for r in right), screen
        assert any("pids 2 / 64" in r for r in right), screen
        assert any(re.search(r"now +cpu 20% \(100% of limit\)  throttled 100% of periods", r)
                   for r in right), screen
        # the two boxes, each titled; the process list (306 and its child 325, both
        # `stress --cpu 1`) in its own, never on the rows of the namespaces
        top = next(i for i, r in enumerate(right) if "─ namespaces of pid 306 " in r)
        assert "─ processes  2 " in right[top]
        box = right[top].index("╮") + 1  # the namespaces' box: its columns
        ns_rows = [r[:box] for r in right[top + 1:top + 12]
                   if re.search(r"│ (cgroup|ipc|mnt|net|pid|time|user|uts) ", r[:box])]
        assert len(ns_rows) == 8 and not any("stress" in r for r in ns_rows), screen
        assert sum("stress --cpu 1" in r[box:] for r in right) == 2
        # the tree: the container's cgroup by name, its figures spaced
        assert re.search(r"batch  cpu 20% / 20%  thr 100%  2 procs  docker docker-39e0",
                         screen), screen
        # f again: no longer following, no dialog
        _tmux("send-keys", "-t", session, "f")
        screen = _wait_screen(session, lambda s: "following 306" not in s.splitlines()[0],
                              what="following stopped")
        assert "Follow pid (empty" not in screen
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True, check=False)


def test_scene_at_80x24_shows_usage_limit_and_a_readable_plot():
    session = f"nsscope-test-scene80-{os.getpid()}"
    try:
        _scene(session, 80, 24)
        _tmux("send-keys", "-t", session, "s")  # sorted: docker (batch throttled) first
        _wait_screen(session, lambda s: s.splitlines()[3].startswith("▶ docker"),
                     what="docker first")
        _tmux("send-keys", "-t", session, "Home", "Enter")  # the cursor stayed on its row
        _wait_screen(session, lambda s: "├─ ▶ batch" in s, what="docker expanded")
        _tmux("send-keys", "-t", session, "Down")
        screen = _wait_screen(session, lambda s: "batch (docker 39e06029a411)" in s,
                              what="batch's plot")
        assert "├─ ▶ batch  cpu 20% / 20%  thr 100%" in screen, screen
        # the plot: its legend with both values, and most of the rows for the curves
        assert "limit 20%" in screen and "cpu 20%" in screen, screen
        axis = [line for line in screen.splitlines() if re.search(r"▕ *[0-9.]*[┤│]", line)]
        assert len(axis) >= 9, screen
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True, check=False)


# --- handing the terminal over: `e`, and `nsscope enter` from a script ---------------------

def _children(pid: int) -> list[int]:
    with open(f"/proc/{pid}/task/{pid}/children") as f:
        return [int(x) for x in f.read().split()]


def _pane_pid(session: str) -> int:
    return int(_tmux("display", "-p", "-t", session, "#{pane_pid}").strip())


def _descendants(pid: int) -> list[int]:
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        try:
            kids = _children(p)
        except FileNotFoundError:
            continue
        out += kids
        todo += kids
    return out


def _cmdline(pid: int) -> list[str]:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return [a.decode() for a in f.read().split(b"\0") if a]
    except OSError:
        return []


def _entered_shell(session: str) -> int:
    """The host pid of the shell `nsscope enter` runs (the child of its waiting parent)."""
    def find() -> int | None:
        for pid in _descendants(_pane_pid(session)):
            argv = _cmdline(pid)
            if "enter" in argv and any(a.endswith("nsscope") for a in argv[:3]):
                kids = _children(pid)
                if kids and _cmdline(kids[0])[:1] == ["/bin/sh"]:
                    return kids[0]
        return None
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        pid = find()
        if pid is not None:
            return pid
        time.sleep(0.2)
    raise AssertionError("no entered shell found")


@pytest.fixture
def busybox_runc(tmp_path):
    """A runc container of a busybox root (no /bin/bash in it), in a cgroup of its own."""
    need_root()
    name = f"nsscope-test-tty-{os.getpid()}"
    guard = CgroupGuard(name)
    oci = Oci(tmp_path, busybox_rootfs(tmp_path / "rootfs"), name)
    try:
        pid = oci.run(name)
        yield name, pid
    finally:
        oci.close()
        guard.cleanup()


def _tui(session: str, shell: str = "/bin/bash") -> None:
    _tmux("new-session", "-d", "-s", session, "-x", "160", "-y", "48",
          f"env -u COLUMNS -u LINES TERM=xterm-256color SHELL={shell} {NSSCOPE}; "
          "echo NSSCOPE-EXIT=$?; sleep 600")
    _wait_screen(session, lambda s: " processes " in s, what="the TUI")


def _select_container(session: str, name: str, pid: int) -> None:
    """Containers view, the cursor on the container (f: its pid, then up to its row)."""
    _tmux("send-keys", "-t", session, "f")
    _wait_screen(session, lambda s: "Follow pid (empty" in s, what="the follow dialog")
    _tmux("send-keys", "-t", session, str(pid), "Enter")
    _wait_screen(session, lambda s: f"following {pid}" in s, what="the followed process")
    _tmux("send-keys", "-t", session, "f")  # f again: stops following, keeps the cursor
    _wait_screen(session, lambda s: f"following {pid}" not in s.splitlines()[0],
                 what="following stopped")
    _tmux("send-keys", "-t", session, "Up")
    _wait_screen(session, lambda s: f"container {name}" in s, what="the container selected")


def _back_in_tui(session: str, status: int) -> None:
    _wait_screen(session, lambda s: " processes " in s and f"exit status {status}" in s,
                 timeout=30, what="the TUI redrawn after the shell")
    assert _tmux("display", "-p", "-t", session, "#{alternate_on}").strip() == "1"
    # it answers keys: another view, then q quits with status 0
    _tmux("send-keys", "-t", session, "3")
    _wait_screen(session, lambda s: "/ (host)" in s, what="the cgroups view after the shell")
    _tmux("send-keys", "-t", session, "q")
    screen = _wait_screen(session, lambda s: "NSSCOPE-EXIT=" in s, what="the TUI to quit")
    assert "NSSCOPE-EXIT=0" in screen


def test_e_on_a_container_gives_the_terminal_back(busybox_runc):
    """e, a command in the container's shell, exit: the TUI is back and q quits. $SHELL
    (/bin/bash) is not in the busybox root: the fallback to its /bin/sh is silent."""
    need_tool("tmux")
    name, pid = busybox_runc
    session = f"{name}-e"
    try:
        _tui(session)
        _select_container(session, name, pid)
        _tmux("send-keys", "-t", session, "e")
        screen = _wait_screen(session, lambda s: "/ #" in s and " processes " not in s,
                              what="the container's shell prompt")
        assert "not found" not in screen and "nsscope:" not in screen, screen
        _tmux("send-keys", "-t", session, "echo in-$(hostname)-$((6*7))", "Enter")
        _wait_screen(session, lambda s: "in-runc-42" in s, what="the command's output")
        _tmux("send-keys", "-t", session, "exit", "Enter")
        _back_in_tui(session, 0)
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True, check=False)


def test_e_gives_the_terminal_back_after_the_shell_is_killed(busybox_runc):
    need_tool("tmux")
    name, pid = busybox_runc
    session = f"{name}-k"
    try:
        _tui(session)
        _select_container(session, name, pid)
        _tmux("send-keys", "-t", session, "e")
        _wait_screen(session, lambda s: "/ #" in s and " processes " not in s,
                     what="the container's shell prompt")
        # line editing off, as a shell may leave it: the modes must come back too
        _tmux("send-keys", "-t", session, "stty -echo -icanon", "Enter")
        time.sleep(0.5)
        os.kill(_entered_shell(session), signal.SIGKILL)
        _back_in_tui(session, 137)
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True, check=False)


SCRIPT = """\
{nsscope} enter {target} -- {cmd}
echo AFTER=$?
stty -a | tr ' ' '\\n' | grep -x -- '-\\?echo' | sed 's/^/MODE=/'
read line
echo GOT=$line
sleep 600
"""


@pytest.mark.parametrize("how", ["exit", "sigkill", "ctrl-z"])
def test_enter_from_a_script_leaves_its_terminal_usable(busybox_runc, tmp_path, how):
    """`nsscope enter … -- sh` from a non-interactive script: afterwards the script
    still reads its terminal (foreground group back) with its modes (echo on)."""
    need_tool("tmux")
    name, _ = busybox_runc
    session = f"{name}-s-{how}"
    script = tmp_path / "script.sh"
    cmd = "sh -c 'echo sleeping; sleep 2'" if how == "ctrl-z" else "sh"
    script.write_text(SCRIPT.format(nsscope=NSSCOPE, target=name, cmd=cmd))
    try:
        _tmux("new-session", "-d", "-s", session, "-x", "120", "-y", "30", f"sh {script}")
        if how == "ctrl-z":
            # ^Z stops CMD (a job of its own); with no job control above, nobody could
            # continue nsscope: CMD is continued at once, and the script goes on
            _wait_screen(session, lambda s: "sleeping" in s, what="the command")
            _tmux("send-keys", "-t", session, "C-z")
            status = 0
        else:
            _wait_screen(session, lambda s: "/ #" in s, what="the container's shell prompt")
        if how == "exit":
            _tmux("send-keys", "-t", session, "exit 3", "Enter")
            status = 3
        elif how == "sigkill":
            _tmux("send-keys", "-t", session, "stty -echo -icanon", "Enter")
            time.sleep(0.5)
            _tmux("send-keys", "-t", session, "kill -9 $$", "Enter")
            status = 137
        _wait_screen(session, lambda s: f"AFTER={status}" in s, what="the script going on")
        _tmux("send-keys", "-t", session, "typed-by-hand", "Enter")
        screen = _wait_screen(session, lambda s: "GOT=typed-by-hand" in s,
                              what="the script reading its terminal")
        assert "MODE=echo" in screen  # echo is on again
        assert "Cannot set tty process group" not in screen
        assert screen.count("typed-by-hand") == 2  # echoed by the terminal, then read
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True, check=False)


def test_closing_the_terminal_while_entered_leaves_nothing_behind(busybox_runc):
    """The terminal goes away (tmux killed) while the entered shell has it: the TUI, the
    `nsscope enter` under it and the shell all end (SIGHUP), none lingers without a
    terminal."""
    need_tool("tmux")
    name, pid = busybox_runc
    session = f"{name}-h"
    _tui(session)
    try:
        _select_container(session, name, pid)
        tui_pids = _descendants(_pane_pid(session))
        _tmux("send-keys", "-t", session, "e")
        _wait_screen(session, lambda s: "/ #" in s and " processes " not in s,
                     what="the container's shell prompt")
        shell = _entered_shell(session)
        tui_pids += _descendants(_pane_pid(session))
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True, check=False)
    deadline = time.monotonic() + 20
    alive = set(tui_pids) | {shell}
    while alive and time.monotonic() < deadline:
        alive = {p for p in alive if os.path.exists(f"/proc/{p}")
                 and _stat_state(p) != "Z"}
        time.sleep(0.2)
    assert not alive, {p: _cmdline(p) for p in alive}


def _stat_state(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "Z"

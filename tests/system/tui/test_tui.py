"""The TUI driven with Pilot (App.run_test): views, filter, follow, sort, actions.

Fixture tests replay the cgroup-v2 capture (nsscope.tui.dev.scenario); live tests
run the app on this host against processes and cgroups they make, and check
the effect of an action with an independent oracle (the cgroup files, the
target's /proc/PID/ns links).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

from textual.drivers.headless_driver import HeadlessDriver

from nsscope.host import runstate
from nsscope.tui.app import NsscopeApp, run_on_terminal
from nsscope.tui.outlines import Ref
from nsscope.tui.screens.confirm import ConfirmDialog
from nsscope.tui.screens.throttle import ThrottleDialog
from nsscope.tui.source import LiveSource
from nsscope.tui.widgets.plots import smooth

from support import NSSCOPE, need_root, need_tool
from support.cgroupfs import CgroupWithProcess
from support.scenario import Scenario, ns_ino
from support.tui import SIZE, follow_when_seen, messages, summary, until
from support.nobody import nobody_python


async def _confirmed(pilot, app: NsscopeApp, key: str, what: str):
    """Press ``key``, answer its question yes, and the action it ran (app.last_action)."""
    await pilot.press(key)
    await until(pilot, lambda: isinstance(app.screen, ConfirmDialog), what="the question")
    await pilot.press("y")
    return await until(pilot, lambda: getattr(app, "last_action", None), timeout=60, what=what)


async def test_throttle_dialog_applies_and_reset_restores():
    need_root()
    cg = CgroupWithProcess(f"nsscope-test-tui-{os.getpid()}", ["sleep", "1000"])
    pid = cg.proc.pid
    before = cg.quota()
    try:
        app = NsscopeApp(LiveSource(), interval=0.3, euid=0)
        async with app.run_test(size=SIZE) as pilot:
            await follow_when_seen(pilot, app, pid, "the process in a frame", view="3")
            assert app.main.selection == Ref("process", pid)
            await pilot.press("t")
            dialog = await until(pilot, lambda: isinstance(app.screen, ThrottleDialog)
                                 and app.screen, what="the dialog")
            field = dialog.query_one("#throttle-value")
            assert field.value == "50%"  # unlimited: the dialog starts at 50 %
            await pilot.press(*["down"] * 6)
            assert field.value == "20%"
            await pilot.press("enter")
            done = await until(pilot, lambda: getattr(app, "last_action", None),
                               timeout=60, what="nsscope throttle to finish")
            assert done.ok, done.output
            start = app.frame.snapshot.processes[pid].starttime
            assert done.argv == [sys.executable, "-m", "nsscope", "throttle",
                                 f"pid:{pid}@{start}", "20%"]
            # the oracle: the cgroup's own limit file
            assert cg.quota() in ("20000", "20000 100000")
            await until(pilot, lambda: "cpu 20%" in summary(app), what="the limit shown")
            app.last_action = None
            # r asks first: n leaves the limit alone
            await pilot.press("r")
            await until(pilot, lambda: isinstance(app.screen, ConfirmDialog), what="the question")
            await pilot.press("n")
            await pilot.pause(1.0)
            assert app.last_action is None and cg.quota() in ("20000", "20000 100000")
            done = await _confirmed(pilot, app, "r", "the reset")
            assert done.ok, done.output
            assert cg.quota() == before
            # and says what it did: the CLI's own account of the files it restored
            assert any("→" in m for m in messages(app)), messages(app)
            await until(pilot, lambda: "cpu unlimited" in summary(app),
                        what="the reset shown")
    finally:
        subprocess.run([NSSCOPE, "throttle", str(pid), "--reset"], capture_output=True, check=False)
        cg.close()


async def test_enter_suspends_runs_the_cli_and_resumes(tmp_path, monkeypatch):
    need_root()
    need_tool("unshare")
    out = tmp_path / "inside"
    shell = tmp_path / "shell.sh"
    shell.write_text(f"#!/bin/sh\nreadlink /proc/self/ns/uts > {out}\nhostname >> {out}\n")
    shell.chmod(0o755)
    monkeypatch.setenv("SHELL", str(shell))
    # a headless driver that can hand the terminal over, counting the handovers
    calls: list[str] = []
    monkeypatch.setattr(HeadlessDriver, "can_suspend", property(lambda self: True))
    monkeypatch.setattr(HeadlessDriver, "suspend_application_mode",
                        lambda self: calls.append("suspend"), raising=False)
    monkeypatch.setattr(HeadlessDriver, "resume_application_mode",
                        lambda self: calls.append("resume"), raising=False)
    argvs: list[list[str]] = []

    def runner(argv: list[str]) -> int:
        argvs.append(argv)
        calls.append("run")
        return run_on_terminal(argv)

    sc = Scenario()
    try:
        pid = sc.spawn(["unshare", "--uts", "sh", "-c", "hostname nsscope-test-uts; "
                        "exec sleep 1000"], settle="sleep")
        app = NsscopeApp(LiveSource(), interval=0.3, runner=runner, euid=0)
        async with app.run_test(size=SIZE) as pilot:
            await follow_when_seen(pilot, app, pid, "the target in a frame")
            await pilot.press("e")
            await until(pilot, lambda: getattr(app, "last_enter", None), timeout=60,
                        what="the enter to return")
            start = app.frame.snapshot.processes[pid].starttime
            assert argvs == [[sys.executable, "-m", "nsscope", "enter", f"pid:{pid}@{start}",
                              "--shell", str(shell)]]
            assert calls == ["suspend", "run", "resume"]
            assert app.last_enter[1] == 0
            # the oracle: the shell ran in the target's uts namespace
            assert out.read_text().split() == [f"uts:[{ns_ino(pid, 'uts')}]",
                                               "nsscope-test-uts"]
            # the app is back and answers keys
            await pilot.press("2")
            await pilot.pause()
            assert app.main.view == "namespaces"
            assert any("exit status 0" in m for m in messages(app))
    finally:
        sc.close()


NON_ROOT = """
import asyncio, json, sys
from nsscope.tui.app import NsscopeApp
from nsscope.tui.source import LiveSource
from nsscope.tui.screens.confirm import ConfirmDialog
from nsscope.tui.screens.throttle import ThrottleDialog


async def main():
    app = NsscopeApp(LiveSource(), interval=0.3)
    async with app.run_test(size=(160, 48)) as pilot:
        for _ in range(200):
            if app.frame is not None:
                break
            await pilot.pause(0.05)
        await pilot.press("3")
        await pilot.pause()
        dialogs = 0
        for key in "tekr":
            await pilot.press(key)
            await pilot.pause()
            dialogs += isinstance(app.screen, ThrottleDialog)
        print(json.dumps({"read_only": app.read_only, "dialogs": dialogs,
                          "frames": app.frame.seq if app.frame else 0,
                          "processes": len(app.frame.snapshot.processes),
                          "messages": [n.message for n in app._notifications]}))

asyncio.run(main())
"""


def test_non_root_is_read_only_and_says_why():
    need_root()
    setpriv = need_tool("setpriv")
    p = subprocess.run([setpriv, "--reuid=65534", "--regid=65534", "--clear-groups",
                        "--inh-caps=-all", *nobody_python(), "-c", NON_ROOT],
                       capture_output=True, text=True, timeout=120,
                       cwd="/", env={**os.environ, "HOME": "/nonexistent"}, check=False)
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout.strip().splitlines()[-1])
    assert out["read_only"].startswith("read-only: nsscope runs as uid 65534")
    assert out["frames"] >= 1 and out["processes"] > 1
    assert out["dialogs"] == 0
    assert len([m for m in out["messages"] if m.startswith("read-only")]) == 4


async def test_stop_a_container_made_by_nsscope_run():
    """k asks, then SIGTERM; the container's PID 1 (sleep, no --init) ignores it: the TUI
    says it is waiting, then that it killed it. Oracles: the run record's exit code
    (137: SIGKILL) and the process gone."""
    need_root()
    name = f"nsscope-test-tui-stop-{os.getpid()}"
    p = subprocess.run([NSSCOPE, "run", "-d", "--busybox", "--name", name, "--", "sleep", "1000"],
                       capture_output=True, text=True, timeout=120, check=False)
    assert p.returncode == 0, p.stderr
    cid = p.stdout.strip()
    try:
        app = NsscopeApp(LiveSource(), interval=0.3, euid=0)
        app.stop_grace = 3.0
        async with app.run_test(size=SIZE) as pilot:
            c = await _select_nsscope_container(app, pilot, cid)
            assert c.runtime == "nsscope" and c.name == name
            assert app.main.selection == Ref("container", c.key)
            await pilot.press("k")
            dialog = await until(pilot, lambda: isinstance(app.screen, ConfirmDialog)
                                 and app.screen, what="the question")
            assert dialog.what == f"{name} (nsscope {cid[:12]})"
            await pilot.press("y")
            done = await until(pilot, lambda: getattr(app, "last_action", None),
                               timeout=60, what="k to finish")
            assert done.ok, done.output
            said = messages(app)
            sent = next(i for i, m in enumerate(said) if "SIGTERM sent" in m)
            waiting = next(i for i, m in enumerate(said) if "has not exited on SIGTERM" in m)
            killed = next(i for i, m in enumerate(said) if m.startswith(f"killed {name}"))
            assert sent < waiting < killed, said
            assert done.argv[3:] == ["stop", "-t", "0", cid]
            # the oracles: its main process is gone, killed by SIGKILL (128 + 9)
            await until(pilot, lambda: not os.path.exists(f"/proc/{c.pid}"),
                        what="the container's process to exit")
            assert runstate.find(cid).exit_code == 137
    finally:
        subprocess.run([NSSCOPE, "rm", "-f", cid], capture_output=True, timeout=60,
                       check=False)


async def test_stop_a_container_that_handles_sigterm():
    """With --init, PID 1 passes SIGTERM on and the container ends: k says it stopped,
    never that it killed (exit code 143: SIGTERM)."""
    need_root()
    name = f"nsscope-test-tui-term-{os.getpid()}"
    p = subprocess.run([NSSCOPE, "run", "-d", "--busybox", "--init", "--name", name, "--",
                        "sleep", "1000"], capture_output=True, text=True, timeout=120,
                       check=False)
    assert p.returncode == 0, p.stderr
    cid = p.stdout.strip()
    try:
        app = NsscopeApp(LiveSource(), interval=0.3, euid=0)
        async with app.run_test(size=SIZE) as pilot:
            await _select_nsscope_container(app, pilot, cid)
            done = await _confirmed(pilot, app, "k", "k to finish")
            assert done.ok, done.output
            assert done.argv[3:] == ["stop", cid]
            assert f"stopped {name} (nsscope {cid[:12]}): its PID 1 exited on SIGTERM" in \
                messages(app)
            assert not any("SIGKILL" in m for m in messages(app))
            assert runstate.find(cid).exit_code == 143
    finally:
        subprocess.run([NSSCOPE, "rm", "-f", cid], capture_output=True, timeout=60,
                       check=False)


async def test_one_busy_thread_never_plots_above_one_cpu():
    """A busy loop in a cgroup of its own, sampled live while processes come and go (the
    collector's walk of /proc takes longer some seconds than others): the plotted CPU
    line (tui/widgets/plots.py smooth) stays at one CPU. Oracle: the loop's own CPU time
    (/proc/PID/stat utime+stime) over the same wall time."""
    need_root()
    cg = CgroupWithProcess(f"nsscope-test-tui-smooth-{os.getpid()}",
                           ["sh", "-c", "while :; do :; done"])
    pid = cg.proc.pid
    churn = subprocess.Popen(["sh", "-c", "while :; do /bin/true; done"])
    try:
        app = NsscopeApp(LiveSource(), interval=0.5, euid=0)
        async with app.run_test(size=SIZE) as pilot:
            await until(pilot, lambda: app.frame is not None and pid in
                        app.frame.snapshot.processes, what="the loop in a frame")
            path = app.frame.cpu_cgroup(pid)
            t0, c0 = time.monotonic(), _cpu_seconds(pid)
            await until(pilot, lambda: len(app.history.series(path)) >= 20, timeout=60,
                        what="20 samples")
            own = 100 * (_cpu_seconds(pid) - c0) / (time.monotonic() - t0)
            series = app.history.series(path)
            line = [v for v in smooth(series, "usage_pct")[6:] if v is not None]
            assert own <= 101 and line, (own, line)
            assert max(line) <= 105, ([r.usage_pct for r in series], line)
    finally:
        churn.kill()
        churn.wait()
        cg.close()


def _cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def test_the_process_list_shows_cpu_memory_and_io_of_the_live_host():
    """The selection's processes carry CPU %, RSS and I/O rates (host/usage.py, psutil):
    a busy loop holding 64 MiB in a cgroup of its own, compared with its own
    /proc/PID/stat CPU time and statm over the same seconds."""
    need_root()
    code = "b = bytearray(64 << 20); b[::4096] = b'x' * (len(b) // 4096)\nwhile True: pass"
    cg = CgroupWithProcess(f"nsscope-test-tui-usage-{os.getpid()}", [sys.executable, "-c", code])
    pid = cg.proc.pid
    try:
        app = NsscopeApp(LiveSource(), interval=0.5, euid=0)
        async with app.run_test(size=SIZE) as pilot:
            await follow_when_seen(pilot, app, pid, "the loop in a frame", view="3")
            t0, c0 = time.monotonic(), _cpu_seconds(pid)
            table = app.main.query_one("#members")
            await until(pilot, lambda: app.frame.usage.get(pid) is not None
                        and app.frame.usage[pid].cpu_pct is not None, timeout=30,
                        what="the loop's CPU in a frame")
            await pilot.pause(2.0)
            own = 100 * (_cpu_seconds(pid) - c0) / (time.monotonic() - t0)
            u = app.frame.usage[pid]
            with open(f"/proc/{pid}/statm") as f:
                rss = int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
            assert u.rss is not None and abs(u.rss - rss) < 4 << 20 and u.rss >= 64 << 20
            # one second's rate against the average since t0: a busy loop's share moves
            # with the machine's load, not by tens of points within a few seconds
            assert u.cpu_pct is not None and abs(u.cpu_pct - own) < 35, (u, own)
            assert u.read_bps is not None and u.write_bps is not None  # root reads /proc/PID/io
            await pilot.pause(0.6)  # the table drawn from a frame that has the figures
            row = [str(c) for c in table.get_row(str(pid))]
            assert row[3].strip().isdigit() and row[4].endswith("M"), row
            assert "/" in row[5], row
    finally:
        cg.close()


async def _select_nsscope_container(app, pilot, cid: str):
    """The Containers view's cursor on the nsscope container ``cid`` (its runtime's
    group expanded); the Container as the frame has it."""
    def container():
        f = app.frame
        return f and next((c for c in f.containers if c.id == cid), None)
    c = await until(pilot, container, what="the container in a frame")
    await until(pilot, lambda: app.main.active_tree.node_for("rt:nsscope"),
                what="its runtime in the tree")
    tree = app.main.active_tree
    tree.node_for("rt:nsscope").expand()
    await pilot.pause()
    key = f"rt:nsscope|ctr:{c.key}"
    await until(pilot, lambda: tree.node_for(key), what="its node")
    tree.reveal(["rt:nsscope", key])
    await pilot.pause()
    return c

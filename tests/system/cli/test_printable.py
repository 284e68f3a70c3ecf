"""Terminal escape injection (issue 12, item 8): a process whose name, command line
and cgroup hold ESC ] 0 ; title BEL, CR, LF … must not reach the terminal raw
from any text output or TUI label; JSON stays as it is (json escapes them)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from nsscope.host import cgroups
from nsscope.printable import safe

from support import need_root, remove_cgroups, run_nsscope

EVIL = "\x1b]0;pwned\x07\r\n\x1b[2J\x7f\x9b"
#: what may appear in text output: newline only (no other C0, no DEL, no C1)
RAW = re.compile("[\x00-\x09\x0b-\x1f\x7f\x80-\x9f]")


@pytest.fixture
def evil_process(tmp_path):
    """A process in a new net namespace (a sandbox `ps` lists) whose comm, argv and
    cgroup (cpu hierarchy) carry control characters."""
    need_root()
    exe = tmp_path / "\x1b]0;t\x07\rx"
    exe.symlink_to("/bin/sleep")
    hs = cgroups.hierarchies()
    h = cgroups.cpu_hierarchy(hs)
    if h is None:
        pytest.skip("no cpu controller")
    # cgroup names may hold anything but "/" and "\n" (kernel/cgroup/cgroup.c)
    cg_name = f"nsscope-test-\x1b]0;cg\x07-{uuid.uuid4().hex[:6]}"
    cg_dir = f"{h.mountpoint}/{cg_name}"
    os.mkdir(cg_dir)
    # argv[0] is EVIL, the comm the exe's name (execv of the symlink)
    p = subprocess.Popen(["unshare", "-n", "--", "python3", "-c",
                          "import os, sys; os.execv(sys.argv[1], [sys.argv[2], '300'])",
                          str(exe), EVIL])
    try:
        deadline = time.monotonic() + 10
        while not Path(f"/proc/{p.pid}/comm").read_text().startswith("\x1b]0;t"):
            assert time.monotonic() < deadline, "the comm"
            time.sleep(0.05)
        fd = os.open(f"{cg_dir}/cgroup.procs", os.O_WRONLY)
        try:
            os.write(fd, str(p.pid).encode())
        finally:
            os.close(fd)
        yield p.pid, cg_name
    finally:
        p.kill()
        p.wait()
        remove_cgroups([cg_dir])


@pytest.mark.parametrize("argv", [
    ["ls"], ["ls", "-p", "{pid}"], ["show", "{pid}"], ["tree", "--all"], ["tree", "--cgroups"],
    ["ps"], ["top"], ["top", "--throttled"],
], ids=" ".join)
def test_text_outputs_carry_no_raw_control_characters(evil_process, argv):
    """Today's bug: ESC, BEL, CR and LF of a process name reached the terminal."""
    pid, cg_name = evil_process
    r = run_nsscope(*[a.format(pid=pid) for a in argv])
    assert r.returncode == 0, r.stderr
    assert not RAW.search(r.stdout), [m.group() for m in RAW.finditer(r.stdout)][:5]
    if argv[0] == "show":
        assert "\\x1b]0;pwned\\x07\\x0d\\x0a" in r.stdout  # the command line, escaped
        assert safe(cg_name) in r.stdout


def test_json_keeps_the_exact_strings(evil_process):
    pid, _ = evil_process
    r = run_nsscope("show", str(pid), "--json")
    assert r.returncode == 0, r.stderr
    assert EVIL in json.loads(r.stdout)["cmdline"]


def test_throttle_output_escapes_the_cgroup_path(evil_process):
    pid, cg_name = evil_process
    r = run_nsscope("throttle", str(pid), "50%")
    try:
        assert r.returncode == 0, r.stderr
        assert not RAW.search(r.stdout), r.stdout
        w = run_nsscope("throttle", str(pid), "50%", "--watch", "--count", "1")
        assert w.returncode == 0 and not RAW.search(w.stdout), w.stdout
        assert safe(cg_name) in r.stdout + w.stdout
    finally:
        run_nsscope("throttle", str(pid), "--reset")


async def test_tui_labels_show_the_escaped_form(evil_process):
    from textual.widgets import Static

    from nsscope.tui.app import NsscopeApp
    from nsscope.tui.outlines import Ref
    from nsscope.tui.source import LiveSource
    pid, _ = evil_process
    app = NsscopeApp(LiveSource(), interval=0.3)
    async with app.run_test(size=(160, 48)) as pilot:
        deadline = time.monotonic() + 20
        while not (app.frame is not None and pid in app.frame.snapshot.processes):
            assert time.monotonic() < deadline
            await pilot.pause(0.05)
        app.main.follow(pid)
        await pilot.press("3")
        while not (app.main.active_tree.cursor_entry is not None
                   and app.main.active_tree.cursor_entry.ref == Ref("process", pid)):
            assert time.monotonic() < deadline
            await pilot.pause(0.05)
        label = app.main.active_tree.cursor_entry.label
        assert "\\x1b]0;t\\x07" in label.plain and not RAW.search(label.plain), label.plain
        summary = str(app.main.query_one("#summary", Static).render())
        assert not RAW.search(summary) and "\\x1b]0;pwned\\x07" in summary, summary
        svg = app.export_screenshot()
        assert "\x1b" not in svg and "\x07" not in svg

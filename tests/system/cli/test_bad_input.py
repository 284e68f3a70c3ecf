"""Bad input is one line and changes nothing (issue 12, items 10, 11, 14): sizes,
ids, offsets and timeouts are judged at parse time, exactly, before anything runs."""

from __future__ import annotations

import subprocess
import sys
import uuid

import pytest

from nsscope.actions.run.cgroup import cgroup_ids
from nsscope.host import runstate

from support import need_root, need_tool, run_nsscope


@pytest.mark.parametrize("args, words", [
    (["-m", "18446744073709551615"], "maximum"),
    (["-m", "1k"], "minimum is 6M"),
    (["--user", "99999999999"], "--user"),
    (["--map-users", "99999999999,0,1"], "--map-users"),
    (["--monotonic", "99999999999999"], "--monotonic"),
    (["--boottime", "-99999999999"], "--boottime"),
    (["--cpus", "1000"], "CPUs"),
    (["--image", "/etc/passwd"], "--image"),
])
def test_run_refuses_at_parse_time_in_one_line(args, words):
    need_root()
    need_tool("busybox")
    before = {c.id for c in runstate.list_containers()} | cgroup_ids()
    name = f"nsscope-test-sec-in-{uuid.uuid4().hex[:6]}"
    root = [] if "--image" in args else ["--busybox"]
    r = run_nsscope("run", "--rm", "--name", name, *root, *args, "--", "true")
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 2 and len(lines) == 1 and words in lines[0], r.stderr
    assert "Traceback" not in r.stderr
    assert {c.id for c in runstate.list_containers()} | cgroup_ids() <= before


@pytest.mark.parametrize("limit", ["20%%", "1.5%%", "²", "٣٠%", "３０%"])
def test_throttle_limits_in_one_line_ascii_digits_only(limit):
    """Today's bug: tracebacks for 20%% / 1.5%% / ², and ٣٠% accepted as 30%."""
    need_root()
    p = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        r = run_nsscope("throttle", str(p.pid), limit)
        lines = r.stderr.strip().splitlines()
        assert r.returncode == 2 and len(lines) == 1 and "bad limit" in lines[0], r.stderr
    finally:
        # the code before the fix accepted some of these: undo whatever it did
        run_nsscope("throttle", str(p.pid), "--reset")
        p.kill()
        p.wait()

"""Shared test plumbing.

- ``need_root()`` / ``need_tool(name)``: skip on a developer's machine that
  lacks them, but under CI=true a skip is a failure (the session fails if
  anything skipped), so tests that need root or a real tool always run in CI.
- Every test is checked for leftovers: cgroups or mounts named ``nsscope…``
  that did not exist before it must not exist after it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from nsscope import cgroups

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
HERE = Path(__file__).resolve().parent
REPO = HERE.parent
FIXTURES = HERE / "fixtures"
V2_FIXTURE = FIXTURES / "cgroup-v2-vm"
NSSCOPE = str(Path(sys.executable).with_name("nsscope"))


def need_root() -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root")


def need_tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"needs {name}")
    return path


def run_nsscope(*args: str, check: bool = False, **kw) -> subprocess.CompletedProcess:
    """Run the installed CLI (a real process, as a user would)."""
    kw.setdefault("capture_output", True)
    kw.setdefault("text", True)
    kw.setdefault("timeout", 120)
    return subprocess.run([NSSCOPE, *args], check=check, **kw)


def _nsscope_cgroups() -> set[str]:
    found: set[str] = set()
    try:
        hs = cgroups.hierarchies()
    except OSError:
        return found
    for h in hs:
        for rel, _ in cgroups.walk(h.mountpoint):
            if "nsscope" in rel:
                found.add(f"{h.key}:{rel}")
    return found


def _nsscope_mounts() -> set[str]:
    try:
        with open("/proc/self/mountinfo") as f:
            return {line.split(" ")[4] for line in f if "nsscope" in line}
    except OSError:
        return set()


@pytest.fixture(autouse=True)
def no_leftovers():
    """Whatever a test creates named nsscope… (cgroups, mounts) is gone after it."""
    cg_before, mnt_before = _nsscope_cgroups(), _nsscope_mounts()
    yield
    # a killed process leaves its cgroup busy for a moment
    for _ in range(50):
        cg_new = _nsscope_cgroups() - cg_before
        mnt_new = _nsscope_mounts() - mnt_before
        if not cg_new and not mnt_new:
            return
        time.sleep(0.1)
    pytest.fail(f"left behind: cgroups {sorted(cg_new)}, mounts {sorted(mnt_new)}")


def pytest_sessionfinish(session, exitstatus):
    """Under CI=true, a skipped test fails the run: what needs root or a tool must run."""
    if not IN_CI:
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = reporter.stats.get("skipped", []) if reporter else []
    if skipped:
        reporter.write_line(f"CI: {len(skipped)} test(s) skipped; in CI every test must run:",
                            red=True)
        for rep in skipped:
            reporter.write_line(f"  {rep.nodeid}: {rep.longrepr[-1] if rep.longrepr else ''}")
        session.exitstatus = 1

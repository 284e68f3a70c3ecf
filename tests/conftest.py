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

from nsscope.host import cgroups
from nsscope.kernel import syscalls

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
HERE = Path(__file__).resolve().parent
REPO = HERE.parent
FIXTURES = HERE / "fixtures"
V2_FIXTURE = FIXTURES / "cgroup-v2-vm"
NSSCOPE = str(Path(sys.executable).with_name("nsscope"))


#: a kernel file written with one write(2), so EINVAL surfaces there (not at close)
write_file = syscalls.write_file


def remove_cgroups(dirs) -> None:
    """rmdir each cgroup directory of a test, in the order given (children first),
    retrying for up to 5 s while its last members exit; one already gone is fine.
    What stays is left to the leftover check."""
    for d in dirs:
        for _ in range(100):
            try:
                os.rmdir(d)
                break
            except FileNotFoundError:
                break
            except OSError:
                time.sleep(0.05)


def read_file(path: str) -> str:
    with open(path) as f:
        return f.read()


def assert_modules_exist(names) -> None:
    """Each name is a module of the package as it is now: a deny- or allow-list of
    module names checked with this cannot pass vacuously after a rename."""
    import importlib.util
    missing = sorted(n for n in names if importlib.util.find_spec(n) is None)
    assert not missing, f"no such module (renamed?): {missing}"


def need_root() -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root")


def need_tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"needs {name}")
    return path


#: set by vm/run.sh inside the cgroup-v2 VM that `make test-v2` boots
IN_V2_VM = os.environ.get("NSSCOPE_IN_V2_VM") == "1"


def need_v2_host() -> None:
    """For tests marked ``v2only`` (they need cgroup v2 unified mode).

    `make test` deselects them (-m "not v2only"), so on this v1-hybrid host
    they are neither run nor skipped. In the VM of `make test-v2` this never
    skips: if the VM were not v2 the test fails on its own assertions. A bare
    pytest on a non-v2 host skips them, saying where they run.
    """
    if not IN_V2_VM and cgroups.detect_mode() != "unified":
        pytest.skip("needs a cgroup-v2 host: `make test-v2` runs it in a VM")


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


#: leftovers seen after some test: {name: nodeid}, rechecked at the end of the session
_SUSPECTS: dict[str, str] = {}


@pytest.fixture(autouse=True)
def no_leftovers(request):
    """Whatever a test creates named nsscope… (cgroups, mounts) is gone after it.

    Under CI the machine runs only this suite, so a leftover fails the test that
    left it. On a developer's machine other sessions may be making their own
    nsscope-test… cgroups at the same moment: there a leftover is only a
    suspect, and fails the run if it is still there when the session ends.
    """
    cg_before, mnt_before = _nsscope_cgroups(), _nsscope_mounts()
    yield
    # a killed process leaves its cgroup busy for a moment
    for _ in range(50):
        cg_new = _nsscope_cgroups() - cg_before
        mnt_new = _nsscope_mounts() - mnt_before
        if not cg_new and not mnt_new:
            return
        time.sleep(0.1)
    if IN_CI:
        pytest.fail(f"left behind: cgroups {sorted(cg_new)}, mounts {sorted(mnt_new)}")
    for name in cg_new | mnt_new:
        _SUSPECTS.setdefault(name, request.node.nodeid)


def _check_suspects(session) -> None:
    still = _nsscope_cgroups() | _nsscope_mounts()
    left = {name: node for name, node in _SUSPECTS.items() if name in still}
    if left:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        reporter.write_line("left behind (cgroups/mounts named nsscope…):", red=True)
        for name, node in sorted(left.items()):
            reporter.write_line(f"  {name}  (first seen after {node})")
        session.exitstatus = 1


def pytest_sessionfinish(session, exitstatus):
    """Under CI=true, a skipped test fails the run: what needs root or a tool must run."""
    _check_suspects(session)
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

"""Fixtures and hooks for the whole suite.

- Every test is checked for leftovers: cgroups or mounts named ``nsscope…``
  that did not exist before it must not exist after it.
- Under CI=true a skipped test fails the run: what needs root or a tool must run.
"""

from __future__ import annotations

import time

import pytest

from nsscope.host import cgroups

from support import IN_CI


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

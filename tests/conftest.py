"""Fixtures and hooks for the whole suite.

- Every test is checked for leftovers: cgroups or mounts named ``nsscope…``
  that did not exist before it must not exist after it.
- Tests that need a Debian peer that is not installed (a command they name in
  ``need_tool("…")``, in their body or a fixture they use), or root that the run
  lacks (everything under tests/system), are deselected at collection with one
  line saying what is missing and how many tests that takes away. Under CI=true
  that is an error instead, and so is a skipped test: in CI every test must run.
"""

from __future__ import annotations

import inspect
import os
import re
import shutil
import time

import pytest
from hypothesis import settings

from nsscope.host import cgroups

from support import HERE, IN_CI

# Property tests are deterministic by default (the same examples every run, as CI
# needs: a red run must mean a change, not luck); HYPOTHESIS_PROFILE=explore searches
# afresh. Every counterexample found is kept as an @example in its test.
settings.register_profile("deterministic", derandomize=True, database=None)
settings.register_profile("explore", derandomize=False, max_examples=3000)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "deterministic"))


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


# --- what this machine lacks: deselect, and say so ----------------------------------

_NEED_TOOL = re.compile(r"""need_tool\(\s*(["'])([\w.+-]+)\1\s*\)""")


def _peer_packages() -> dict[str, str]:
    """command -> Debian package, from the one list (tests/peers)."""
    out: dict[str, str] = {}
    with open(HERE / "peers") as f:
        for line in f:
            m = re.match(r"^(?:test|v2)\s+(\S+)\s+(\S+)\s", line)
            if m:
                out[m[1]] = m[2]
    return out


def _tools_of(item: pytest.Item) -> set[str]:
    """The commands a test names in need_tool(...), in its body or its fixtures'."""
    funcs = [getattr(item, "function", None)]
    info = getattr(item, "_fixtureinfo", None)
    if info is not None:
        funcs += [fd.func for fds in info.name2fixturedefs.values() for fd in fds]
    tools: set[str] = set()
    for f in funcs:
        try:
            tools.update(m[1] for m in _NEED_TOOL.findall(inspect.getsource(f)))
        except (OSError, TypeError):
            continue
    return tools


_DESELECTED: list[str] = []


def pytest_collection_modifyitems(config, items):
    root = os.geteuid() == 0
    packages = _peer_packages()
    keep, drop = [], []
    lacking: dict[str, int] = {}  # what is missing -> how many tests it takes away
    for item in items:
        whys = []
        if not root and "/tests/system/" in str(item.path):
            whys.append("root (tests/system)")
        else:
            whys += [f"{t} ({packages.get(t, '?')})" for t in sorted(_tools_of(item))
                     if shutil.which(t) is None]
        for why in whys:
            lacking[why] = lacking.get(why, 0) + 1
        (drop if whys else keep).append(item)
    if not drop:
        return
    _DESELECTED.extend(f"{why}: {n} test(s)" for why, n in sorted(lacking.items()))
    if IN_CI:
        raise pytest.UsageError("CI: every test must run, but these are missing: "
                                + "; ".join(_DESELECTED)
                                + " (tests/peers installs the peers as root)")
    config.hook.pytest_deselected(items=drop)
    items[:] = keep


def pytest_terminal_summary(terminalreporter):
    if _DESELECTED:
        terminalreporter.write_line("deselected for lack of (make test as root installs the "
                                    "Debian peers, tests/peers):", yellow=True)
    for line in _DESELECTED:
        terminalreporter.write_line(f"  {line}", yellow=True)


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

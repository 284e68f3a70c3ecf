"""Helpers the tests share (conftest.py holds only fixtures and hooks).

- ``need_root()`` / ``need_tool(name)``: skip on a developer's machine that
  lacks them, but under CI=true a skip is a failure (the session fails if
  anything skipped), so tests that need root or a real tool always run in CI.
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
HERE = Path(__file__).resolve().parent.parent  # tests/
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


PYTHON = sys.executable


def status_field(text: str, name: str) -> str:
    for line in text.splitlines():
        if line.startswith(name + ":"):
            return line.split()[1]
    raise AssertionError(f"no {name} in status")

"""What makes the read-only views start about as fast as lsns (bench/bench_views.py
measures it): ``nsscope ls``, ``ps``, ``show PID``, ``tree`` and ``top`` import none of the heavy
modules. The oracle is the interpreter's own -X importtime report, in an
interpreter without site (whose packages' hooks may import some of these)."""
from __future__ import annotations

import subprocess
import sys

import pytest

from support import FIXTURES, assert_modules_exist

#: the v2 capture with a docker, Kubernetes pods and an unshare sandbox (its README)
TREE = FIXTURES / "cgroup-v2-vm-full"

#: argparse (with re, gettext, locale, shutil), json (with re), typing,
#: dataclasses (with inspect), enum, collections, functools, and what only
#: other parts need (socket for netns ids, subprocess, threads, the TUI)
HEAVY = {"argparse", "re", "json", "enum", "typing", "dataclasses", "inspect", "collections",
         "functools", "shutil", "gettext", "locale", "socket", "subprocess", "threading",
         "textual", "psutil", "nsscope.kernel.rtnetlink", "nsscope.host.containers.recognise"}


def _imported(*argv: str) -> set[str]:
    from support import REPO
    code = (f"import sys; sys.path.insert(0, {str(REPO)!r}); "
            f"from nsscope.cli import main; sys.exit(main({list(argv)!r}))")
    env = {"NSSCOPE_PROC": str(TREE / "proc"), "NSSCOPE_CGROUP_ROOT": str(TREE / "sys/fs/cgroup")}
    r = subprocess.run([sys.executable, "-I", "-S", "-X", "importtime", "-c", code],
                       capture_output=True, text=True, timeout=60, check=False, env=env)
    assert r.returncode == 0, r.stderr[-2000:]
    return {line.rsplit("|", 1)[1].strip() for line in r.stderr.splitlines()
            if line.startswith("import time:") and "|" in line}


@pytest.mark.parametrize(("argv", "shown"), [
    (("ls",), "nsscope.cli.ls"), (("ls", "-t", "net", "-o", "+PATH"), "nsscope.cli.ls"),
    (("ps",), "nsscope.cli.ps"), (("show", "1008"), "nsscope.cli.show"),
    # ps shaped (issue 15): every new option stays on the fast path
    (("ps", "-a", "-q", "-o", "+CGROUP", "--filter", "runtime=docker", "-f", "name=x",
      "--sort", "NAME", "--no-trunc"), "nsscope.cli.ps"),
    # tree and top on the fast path too (issue 15: no view slower than before it)
    (("tree",), "nsscope.cli.tree"), (("tree", "--cgroups", "--all"), "nsscope.cli.tree"),
    (("top", "--interval", "0"), "nsscope.cli.top"),
    (("top", "--interval", "0", "--sort", "mem", "--throttled"), "nsscope.cli.top"),
])
def test_a_view_imports_nothing_heavy(argv, shown):
    assert_modules_exist(HEAVY - {"textual"})  # a rename must not make this vacuous
    imported = _imported(*argv)
    assert shown in imported  # the view itself ran
    heavy = HEAVY - {"nsscope.host.containers.recognise"} if argv[0] != "ls" else HEAVY
    assert imported & heavy == set()

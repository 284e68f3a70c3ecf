"""``nsscope enter``'s command line (nsenter's getopt forms) and what its path imports."""

from __future__ import annotations

import subprocess

from nsscope.cli.enter import parse_argv

from support import PYTHON, assert_modules_exist
from support.enter import ENTER_PATH


def test_parse_argv_getopt_forms():
    r = parse_argv(["-nu", "42", "-r/srv", "--wd=/tmp", "--user", "7:8", "--env", "ls", "-l"])
    assert r is not None
    assert (r.target, r.cmd, r.types) == ("42", ("ls", "-l"), frozenset({"net", "uts"}))
    assert (r.root, r.wd, r.uid, r.gid, r.env) == ("/srv", "/tmp", 7, 8, True)
    r = parse_argv(["42", "-r", "--user", "--", "7"])  # -r alone: the target's; --user: userns
    assert r is not None
    assert (r.root, r.types, r.uid, r.cmd) == ("", frozenset({"user"}), None, ("7",))
    # --user before TARGET: a number is the ids only when TARGET still follows
    r = parse_argv(["--user", "42", "--", "id"])
    assert r is not None and (r.target, r.types, r.uid) == ("42", frozenset({"user"}), None)
    r = parse_argv(["--user", "7", "42", "--", "id"])
    assert r is not None and (r.target, r.types, r.uid) == ("42", frozenset(), 7)
    r = parse_argv(["-a", "-n", "42"])
    assert r is not None and r.all_types


def test_the_enter_path_imports_no_tui_or_heavy_module():
    assert_modules_exist(ENTER_PATH)
    code = ("import sys; from nsscope import cli; cli.build_parser('enter'); "
            "import nsscope.cli.enter, nsscope.actions.enter; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in "
            f"('textual', 'rich', 'psutil', 'plotext', 'nsscope') and m not in {ENTER_PATH!r}))")
    out = subprocess.run([PYTHON, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"

"""The CLI as any user meets it: bad input in one line, its own shell, no Textual."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from support import run_nsscope


@pytest.mark.parametrize("args", [
    ("show", "0"), ("show", "-1"), ("show", "abc"), ("show", "4194304"),
    ("ls", "-t", "bogus"), ("ls", "-p", "abc"), ("ls", "-p", "4194304"), ("ls", "-o", "NOPE"),
    ("bogus-command",), ("show",),
])
def test_bad_input_is_one_line_and_nonzero(args):
    out = run_nsscope(*args)
    assert out.returncode != 0
    err = out.stderr.strip().splitlines()
    assert len(err) == 1, out.stderr
    assert err[0].startswith("nsscope"), err
    assert "Traceback" not in out.stderr and out.stdout == ""


def test_show_own_shell_matches_proc():
    me = os.getpid()
    data = json.loads(run_nsscope("show", str(me), "--json", check=True).stdout)
    assert data["pid"] == me and data["ppid"] == os.getppid()
    for n in data["namespaces"]:
        text = os.readlink(f"/proc/{me}/ns/{n['link']}")
        assert n["ns"] == int(text[text.index("[") + 1:-1])
    with open(f"/proc/{me}/cgroup") as f:
        lines = [line.strip().split(":", 2) for line in f]
    assert {(c["hierarchy"], c["path"]) for c in data["cgroups"]} == \
        {(key or "unified", path) for _, key, path in lines}
    text = run_nsscope("show", str(me), check=True).stdout
    assert f"pid {me}" in text and "namespaces:" in text and "cgroups:" in text


def test_cli_path_does_not_import_textual():
    code = ("import sys; from nsscope import cli;"
            "from nsscope.host import collector, cgroups, namespaces, processes;"
            "from nsscope.cli import ls, tree, show;"
            "assert 'textual' not in sys.modules, 'core imported textual'")
    subprocess.run([sys.executable, "-c", code], check=True)

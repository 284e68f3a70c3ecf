"""What every command takes, said where users look (issue 15): --version after any
command, the --proc/--cgroup-root options and every NSSCOPE_* variable in --help and
the README (the package's own source is the oracle for which variables exist)."""

from __future__ import annotations

import pathlib
import re

import pytest

from nsscope import __version__
from nsscope.cli import COMMANDS

from support import run_nsscope

REPO = pathlib.Path(__file__).resolve().parents[3]


def _variables() -> set[str]:
    """Every NSSCOPE_* name the package reads."""
    found: set[str] = set()
    for path in (REPO / "nsscope").rglob("*.py"):
        found |= set(re.findall(r"NSSCOPE_[A-Z_]+", path.read_text()))
    return found


@pytest.mark.parametrize("command", [None, *COMMANDS])
def test_version_after_any_command(command):
    args = ("--version",) if command is None else (command, "--version")
    out = run_nsscope(*args)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == f"nsscope {__version__}"
    if command is not None:
        assert run_nsscope(command, "-V").stdout.strip() == f"nsscope {__version__}"


def test_help_documents_roots_and_environment():
    text = run_nsscope("--help", check=True).stdout
    assert "--proc DIR" in text and "--cgroup-root DIR" in text
    variables = _variables()
    assert {"NSSCOPE_PROC", "NSSCOPE_CGROUP_ROOT", "NSSCOPE_DEBUG"} <= variables
    for name in variables:
        assert name in text, name


def test_readme_documents_roots_and_environment():
    readme = (REPO / "README.md").read_text()
    for word in ("--proc", "--cgroup-root", *_variables()):
        assert word in readme, word


def test_nsscope_proc_is_the_default_of_proc(tmp_path):
    """The variable does what the help says: an empty tree has no process to show."""
    (tmp_path / "proc").mkdir()
    out = run_nsscope("show", "1", env={"NSSCOPE_PROC": str(tmp_path / "proc"),
                                        "PATH": "/usr/bin:/bin"})
    assert out.returncode != 0 and "1" in out.stderr


SCENE = REPO / "tests/fixtures/scene-v2"


@pytest.mark.parametrize("view", [("ls",), ("tree",), ("tree", "--cgroups"), ("show", "1"),
                                  ("ps",), ("top", "--interval", "0")], ids=" ".join)
def test_every_view_takes_short_and_long_json(view):
    """docs/json.md: every view takes --json and -J (ps -J and top -J were refused)."""
    roots = ("--proc", str(SCENE / "proc"), "--cgroup-root", str(SCENE / "sys/fs/cgroup"))
    short = run_nsscope(*roots, *view, "-J")
    assert short.returncode == 0, short.stderr
    assert short.stdout == run_nsscope(*roots, *view, "--json", check=True).stdout
    assert short.stdout.lstrip().startswith("{")

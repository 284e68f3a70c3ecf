"""Import hygiene: the core never imports textual; only nsscope.tui does."""

from __future__ import annotations

import subprocess
import sys

CORE = ["nsscope", "nsscope.cli", "nsscope.collector", "nsscope.sampler", "nsscope.history",
        "nsscope.model", "nsscope.processes", "nsscope.namespaces", "nsscope.cgroups",
        "nsscope.containers", "nsscope.targets", "nsscope.syscalls", "nsscope.errors",
        "nsscope.throttle", "nsscope.enter", "nsscope.views.ls", "nsscope.views.tree",
        "nsscope.views.show", "nsscope.views.ps", "nsscope.views.top",
        "nsscope.views.throttle", "nsscope.views.enter"]


def _loaded(code: str) -> str:
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    return out.stdout.strip()


def test_core_does_not_import_textual():
    code = ("import importlib, sys\n"
            f"for m in {CORE!r}:\n"
            "    try:\n"
            "        importlib.import_module(m)\n"
            "    except ModuleNotFoundError as e:\n"
            "        if e.name != m: raise\n"
            "print(sorted(m for m in sys.modules if m == 'textual' or m.startswith('textual.')))")
    assert _loaded(code) == "[]"


def test_cli_subcommands_do_not_import_textual():
    # parsing and running a subcommand (ls --json) stays out of textual too
    code = ("import sys, io, contextlib\n"
            "from nsscope import cli\n"
            "with contextlib.redirect_stdout(io.StringIO()):\n"
            "    cli.main(['ls', '--json'])\n"
            "print('textual' in sys.modules)")
    assert _loaded(code) == "False"


def test_the_tui_does_import_textual():
    # the check above can fail: the TUI module really pulls textual in
    assert _loaded("import sys, nsscope.tui.app; print('textual' in sys.modules)") == "True"

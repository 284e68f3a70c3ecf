"""Import hygiene: the core never imports textual; only nsscope.tui does.

The core's modules are found by walking the package, not listed: a module
added, moved or renamed is checked without anyone updating a list.
"""

from __future__ import annotations

import subprocess
import sys

from support import REPO


def _loaded(code: str) -> str:
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    return out.stdout.strip()


def _core_modules() -> list[str]:
    """Every module of the package outside nsscope.tui (and __main__, which runs)."""
    names = []
    for path in sorted((REPO / "nsscope").rglob("*.py")):
        parts = list(path.relative_to(REPO).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        if parts[:2] == ["nsscope", "tui"] or parts[-1] == "__main__":
            continue
        names.append(".".join(parts))
    return names


def test_core_does_not_import_textual():
    core = _core_modules()
    assert {"nsscope.cli", "nsscope.host.collector", "nsscope.actions.enter"} <= set(core)
    code = ("import importlib, sys\n"
            f"for m in {core!r}:\n"
            "    importlib.import_module(m)\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('textual', 'rich')))")
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

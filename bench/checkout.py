"""Another checkout's nsscope (``BENCH_*_BASELINE=DIR``: before/after a change), run as
its console script runs it."""

from __future__ import annotations

import compileall
import os
import sys


def cli(directory: str) -> list[str]:
    """The command line of the nsscope package in ``directory``, byte-compiled first (as
    an installed package is). ``main()`` reads its words from sys.argv as the console
    script's does: a view then leaves as it does for users (nsscope.cli.exit_now); given
    its words as an argument it would pay the interpreter's finalization, ~5 ms."""
    compileall.compile_dir(os.path.join(directory, "nsscope"), quiet=1)
    code = (f"import sys; sys.path.insert(0, {directory!r}); from nsscope.cli import main; "
            "sys.exit(main())")
    return [sys.executable, "-c", code]

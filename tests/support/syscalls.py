"""Running syscall wrappers in a fresh interpreter."""

from __future__ import annotations

import subprocess

from support import PYTHON, REPO


def child(code: str, **kw) -> subprocess.CompletedProcess:
    """``code`` run by a new interpreter with ``syscalls as sc`` imported."""
    kw.setdefault("timeout", 60)
    head = "import os, sys\nfrom nsscope.kernel import abi, syscalls as sc\n"
    return subprocess.run([PYTHON, "-c", head + code],
                          capture_output=True, text=True, cwd=REPO, check=False, **kw)

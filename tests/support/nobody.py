"""Running this checkout's nsscope as another user (uid 65534), wherever it lives.

A checkout under /root (mode 0700, as on a fresh Debian machine where root clones
into its home) cannot be read by nobody, nor can the venv in it: the README says to
install elsewhere for other users. The tests do the same: when nobody cannot import
nsscope and its dependencies from here, the package and the distributions it needs
at run time are copied (as installed, file by file from their RECORDs) into a
directory every user may read, and run with the base interpreter from there.
"""

from __future__ import annotations

import atexit
import functools
import importlib.metadata as md
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

NOBODY = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all"]

_PROBE = "import nsscope.cli, nsscope.tui.app, psutil"


def _runs(argv: list[str]) -> bool:
    r = subprocess.run([*NOBODY, *argv, "-c", _PROBE], capture_output=True, cwd="/",
                       timeout=120, check=False)
    return r.returncode == 0


def _closure(name: str) -> list[md.Distribution]:
    """The distributions ``name`` needs at run time (no extras), itself excluded."""
    seen: dict[str, md.Distribution] = {}
    todo = [r for r in md.requires(name) or () if "extra ==" not in r]
    while todo:
        req = todo.pop()
        dep = re.split(r"[\s;<>=!~\[(]", req, maxsplit=1)[0]
        key = dep.lower().replace("_", "-")
        if key in seen:
            continue
        try:
            dist = md.distribution(dep)
        except md.PackageNotFoundError:
            continue  # a marker for another platform or Python
        seen[key] = dist
        todo += [r for r in dist.requires or () if "extra ==" not in r]
    return list(seen.values())


@functools.cache
def _lib() -> Path | None:
    """None when nobody can run this venv as it is; else the readable copy's path."""
    if _runs([sys.executable]):
        return None
    top = Path(tempfile.mkdtemp(prefix="nsscope-test-nobody-"))
    atexit.register(shutil.rmtree, top, True)
    os.chmod(top, 0o755)
    lib = top / "lib"
    from support import REPO
    shutil.copytree(REPO / "nsscope", lib / "nsscope",
                    ignore=shutil.ignore_patterns("__pycache__"))
    for dist in _closure("nsscope"):
        for f in dist.files or ():
            src = Path(dist.locate_file(f))
            if f.parts[0] == ".." or not src.is_file():
                continue  # scripts in bin/, and the like
            dst = lib / f
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dst)
    for d, _, files in os.walk(top):
        os.chmod(d, 0o755)
        for name in files:
            os.chmod(os.path.join(d, name), 0o644)
    if not _runs(["env", f"PYTHONPATH={lib}", sys._base_executable, "-s"]):
        raise AssertionError(f"uid 65534 can run neither {sys.executable} nor "
                             f"{sys._base_executable} with a readable copy in {lib}")
    return lib


def nobody_python() -> list[str]:
    """argv of an interpreter uid 65534 can run, importing this checkout's nsscope."""
    lib = _lib()
    if lib is None:
        return [sys.executable]
    return ["env", f"PYTHONPATH={lib}", sys._base_executable, "-s"]


def nobody_nsscope() -> list[str]:
    """argv of this checkout's nsscope for uid 65534."""
    lib = _lib()
    if lib is None:
        return [str(Path(sys.executable).with_name("nsscope"))]
    return [*nobody_python(), "-m", "nsscope"]

"""`make bench`: run every bench/bench_*.py (or those named on the command line).

Each module's main() prints its own side-by-side table with the peer tool and
the ratios; nothing here asserts a time.
"""

from __future__ import annotations

import importlib
import pathlib
import sys

HERE = pathlib.Path(__file__).resolve().parent


def main(argv: list[str]) -> int:
    sys.path.insert(0, str(HERE))
    names = sorted(p.stem for p in HERE.glob("bench_*.py"))
    wanted = [a for a in argv if not a.startswith("-")]
    if wanted:
        names = [n for n in names if n.removeprefix("bench_") in wanted or n in wanted]
    status = 0
    for name in names:
        print(f"\n=== {name} ===", flush=True)
        try:
            importlib.import_module(name).main()
        except Exception as e:  # one broken benchmark must not hide the others
            print(f"{name} failed: {e!r}", flush=True)
            status = 1
    return status


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

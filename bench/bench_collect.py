"""Full snapshot (processes + namespaces + cgroups) vs `lsns -J`, same host state.

For 1k, 5k and 10k extra idle processes (a tenth of them in uts+ipc
namespaces of their own), each tool runs 5 times alternately; medians and
the ratio nsscope/lsns are printed. nsscope is timed two ways: a fresh
process that takes a full snapshot (interpreter start included, what
`nsscope tree` pays), and collect() inside a running process (what the TUI
pays per refresh).
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
PY = sys.executable
RUNS = 5
SIZES = [int(x) for x in os.environ.get("BENCH_SIZES", "1000,5000,10000").split(",")]


class Spawned:
    """N idle processes from bench/spawn.py; they die with its stdin."""

    def __init__(self, n: int) -> None:
        self.proc = subprocess.Popen([PY, str(HERE / "spawn.py"), str(n), "0.1"],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout.readline().strip() == "ready"

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait()


def wall(argv: list[str]) -> float:
    t = time.perf_counter()
    subprocess.run(argv, stdout=subprocess.DEVNULL, check=True)
    return time.perf_counter() - t


def main() -> None:
    from nsscope.host.collector import collect

    snap_cmd = [PY, "-c", "from nsscope.host.collector import collect; collect()"]
    print(f"{'procs':>7} {'lsns -J':>9} {'nsscope':>9} {'ratio':>6} "
          f"{'collect()':>10} {'ratio':>6}   (median of {RUNS}, seconds)")
    for n in SIZES:
        s = Spawned(n)
        try:
            total = sum(1 for d in os.listdir("/proc") if d.isdigit())
            lsns, ours, inproc = [], [], []
            for _ in range(RUNS):
                lsns.append(wall(["lsns", "-J"]))
                ours.append(wall(snap_cmd))
                t = time.perf_counter()
                collect()
                inproc.append(time.perf_counter() - t)
            ml, mo, mi = (statistics.median(x) for x in (lsns, ours, inproc))
            print(f"{total:>7} {ml:>9.3f} {mo:>9.3f} {mo / ml:>5.2f}x {mi:>10.3f} "
                  f"{mi / ml:>5.2f}x", flush=True)
        finally:
            s.close()


if __name__ == "__main__":
    main()

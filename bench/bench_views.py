"""The read-only views on this host as it is (~100 processes) vs `lsns` and the floor.

`nsscope ls`, `nsscope ps` and `nsscope show 1` (the console script users run;
`tree` and `tree --cgroups` beside them, without a goal) against `lsns` (the peer of
`ls`) and the interpreter floor `python -I -c pass` (the venv's interpreter: nsscope
cannot start faster than that), round-robin, RUNS times each (env BENCH_VIEWS_RUNS,
default 40); medians of wall-clock and CPU time (user + sys), with ratios to the
floor. Goal (issue 16): each view within 2.5x the floor. Then where the slowest
view's start-up goes: the modules that cost most to import (python -X importtime,
median self time).

BENCH_VIEWS_BASELINE=DIR adds the same views run from the nsscope package in
DIR (another checkout: before/after a change), byte-compiled first as this one is,
and this checkout's started the same way (bench/checkout.py).
"""

from __future__ import annotations

import compileall
import os
import statistics
import subprocess
import sys
from pathlib import Path

import checkout
from timing import timed

REPO = Path(__file__).resolve().parent.parent
PY = sys.executable
NSSCOPE = str(Path(PY).with_name("nsscope"))
RUNS = int(os.environ.get("BENCH_VIEWS_RUNS", "40"))
GOAL = 2.5
VIEWS = (("ls",), ("ps",), ("show", "1"))
#: timed beside them, without a goal (top's one-shot is in bench_throttle)
OTHERS = (("tree",), ("tree", "--cgroups"))


def import_breakdown(args: tuple[str, ...], runs: int = 7) -> str:
    """The modules that cost a view most to import: median self time (ms)."""
    selfs: dict[str, list[int]] = {}
    for _ in range(runs):
        out = subprocess.run([PY, "-X", "importtime", NSSCOPE, *args], capture_output=True,
                             text=True, check=False)
        for line in out.stderr.splitlines():
            if not line.startswith("import time:") or "self [us]" in line:
                continue
            own, _, name = line.removeprefix("import time:").split("|")
            selfs.setdefault(name.strip(), []).append(int(own))
    top = sorted(((statistics.median(v) / 1000, k) for k, v in selfs.items()), reverse=True)
    total = sum(ms for ms, _ in top)
    ours = sum(ms for ms, k in top if k.startswith("nsscope"))
    return (f"{total:.1f} ms in all ({len(top)} modules; nsscope's own {ours:.1f}); "
            + ", ".join(f"{name} {ms:.1f}" for ms, name in top[:8]))


def main() -> None:
    # an installed package has its bytecode compiled; the editable tree may not
    # (PYTHONDONTWRITEBYTECODE): compile it so that no run pays for compiling
    compileall.compile_dir(str(REPO / "nsscope"), quiet=1)
    baseline = os.environ.get("BENCH_VIEWS_BASELINE")
    cmds: dict[str, list[str]] = {"python -I -c pass": [PY, "-I", "-c", "pass"],
                                  "lsns": ["lsns"]}
    for view in VIEWS + OTHERS:
        cmds["nsscope " + " ".join(view)] = [NSSCOPE, *view]
    if baseline:
        # this checkout started the same way as the baseline (the console script
        # goes through the editable install's import hook: not the same start)
        mine, base = checkout.cli(str(REPO)), checkout.cli(baseline)
        for view in VIEWS + OTHERS:
            cmds["  this checkout " + " ".join(view)] = [*mine, *view]
        for view in VIEWS + OTHERS:
            cmds["  baseline " + " ".join(view)] = [*base, *view]
    walls: dict[str, list[float]] = {k: [] for k in cmds}
    cpus: dict[str, list[float]] = {k: [] for k in cmds}
    for argv in cmds.values():  # warm the page cache
        timed(argv, keep_stderr=False)
    load = os.getloadavg()[0]
    for _ in range(RUNS):
        for name, argv in cmds.items():
            w, c = timed(argv, keep_stderr=False)
            walls[name].append(w)
            cpus[name].append(c)
    wall = {k: statistics.median(v) * 1000 for k, v in walls.items()}
    cpu = {k: statistics.median(v) * 1000 for k, v in cpus.items()}
    floor = "python -I -c pass"
    procs = sum(1 for name in os.listdir("/proc") if name.isdigit())
    print(f"{procs} processes; load {load:.2f} before, {os.getloadavg()[0]:.2f} after")
    print(f"{'command':28} {'wall ms':>8} {'x floor':>8} {'cpu ms':>8} {'x floor':>8}"
          f"   (median of {RUNS}, round-robin)")
    for name in cmds:
        print(f"{name:28} {wall[name]:8.2f} {wall[name] / wall[floor]:8.2f} "
              f"{cpu[name]:8.2f} {cpu[name] / cpu[floor]:8.2f}")
    verdicts = []
    for view in VIEWS:
        name = "nsscope " + " ".join(view)
        ratio = wall[name] / wall[floor]
        verdicts.append(f"{' '.join(view)} {ratio:.2f}x ({wall[name] / wall['lsns']:.2f}x lsns)")
    worst = max((wall["nsscope " + " ".join(v)] / wall[floor], v) for v in VIEWS)
    print(f"nsscope / floor: {', '.join(verdicts)} "
          f"(goal <= {GOAL}x: {'met' if worst[0] <= GOAL else 'NOT met'})")
    print(f"imports of `nsscope {' '.join(worst[1])}` (self time, median of 7 runs, "
          f"includes the floor's): {import_breakdown(worst[1])}")


if __name__ == "__main__":
    main()

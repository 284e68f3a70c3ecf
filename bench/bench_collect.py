"""Full snapshot (`nsscope ls --json`) vs `lsns -J`, same host state, at 3,000 and 10,000 processes.

For each size the bench spawns idle processes (bench/spawn.py; a tenth of them
in uts+ipc namespaces of their own) until the host has that many in all. Each
tool then runs RUNS times alternately (env BENCH_COLLECT_RUNS, default 5);
medians and the ratio nsscope/lsns are printed. `nsscope ls --json` is what
`lsns -J` does: every namespace (processless ones too, with owners, parents,
nsfs mounts and the namespaces open fds keep) from a fresh process, interpreter
start included. Goal (issue 16): at most 0.5x lsns -J at both sizes. For the
record, also collect() inside a running process: the whole snapshot (cgroups
with their figures, containers), what the TUI takes when it starts.

BENCH_SIZES=3000,10000 to change the sizes; BENCH_COLLECT_BASELINE=DIR adds
`ls --json` run from the nsscope package in DIR (another checkout: before/after).
"""

from __future__ import annotations

import compileall
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import checkout

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
PY = sys.executable
NSSCOPE = str(Path(PY).with_name("nsscope"))
RUNS = int(os.environ.get("BENCH_COLLECT_RUNS", "5"))
SIZES = [int(x) for x in os.environ.get("BENCH_SIZES", "3000,10000").split(",")]
GOAL = 0.5


class Spawned:
    """N idle processes from bench/spawn.py; they die with its stdin."""

    def __init__(self, n: int) -> None:
        self.proc = subprocess.Popen([PY, str(HERE / "spawn.py"), str(n), "0.1"],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        if self.proc.stdout.readline().strip() != "ready":
            raise RuntimeError("spawn.py did not get ready")

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait()


def processes() -> int:
    return sum(1 for d in os.listdir("/proc") if d.isdigit())


def wall(argv: list[str]) -> float:
    t = time.perf_counter()
    subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return time.perf_counter() - t


def lsns_wall() -> float:
    # lsns 2.38 exits 1 when a process it is reading exits under it; time a good run
    for _ in range(5):
        t = time.perf_counter()
        r = subprocess.run(["lsns", "-J"], stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, check=False)
        if r.returncode == 0:
            return time.perf_counter() - t
    raise RuntimeError("lsns -J kept failing")


def main() -> None:
    from nsscope.host.collector import collect

    compileall.compile_dir(str(REPO / "nsscope"), quiet=1)
    baseline = os.environ.get("BENCH_COLLECT_BASELINE")
    subjects: dict[str, list[str]] = {"nsscope ls --json": [NSSCOPE, "ls", "--json"]}
    if baseline:
        subjects["baseline ls --json"] = [*checkout.cli(baseline), "ls", "--json"]
    head = " ".join(f"{k:>18} {'ratio':>6}" for k in subjects)
    print(f"{'procs':>7} {'load':>5} {'lsns -J':>9} {head} {'collect()':>10} {'ratio':>6}"
          f"   (median of {RUNS}, seconds; goal ls --json <= {GOAL}x lsns -J)")
    for n in SIZES:
        s = Spawned(max(0, n - processes()))
        try:
            total = processes()
            load = os.getloadavg()[0]
            lsns: list[float] = []
            ours: dict[str, list[float]] = {k: [] for k in subjects}
            inproc: list[float] = []
            for _ in range(RUNS):
                lsns.append(lsns_wall())
                for k, argv in subjects.items():
                    ours[k].append(wall(argv))
                t = time.perf_counter()
                collect()
                inproc.append(time.perf_counter() - t)
            ml, mi = statistics.median(lsns), statistics.median(inproc)
            cells = " ".join(f"{statistics.median(v):>18.3f} {statistics.median(v) / ml:>5.2f}x"
                             for v in ours.values())
            print(f"{total:>7} {load:>5.1f} {ml:>9.3f} {cells} {mi:>10.3f} {mi / ml:>5.2f}x",
                  flush=True)
        finally:
            s.close()


if __name__ == "__main__":
    main()

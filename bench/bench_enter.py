"""`nsscope enter PID -- true` vs `nsenter -a -t PID true` vs the interpreter floor.

The target is a sandbox made by unshare (new pid, mount, uts, ipc and net
namespaces), so both tools join five namespaces and fork into the pid one. The
floor is `python -I -c pass` with the venv's interpreter: nsscope cannot start
faster than that. A second sandbox sits in cgroups of its own (cpu, memory and
pids, as a container does), which nsscope joins too (nsenter does not). The
commands run round-robin, RUNS times each (env BENCH_ENTER_RUNS, default 40);
medians of wall-clock and CPU time (user + sys of the process tree) are printed
with the ratios. Goal: nsscope within 1.5x of the floor. Last, where the
start-up time goes: the modules that cost most to import (python -X importtime).
"""

from __future__ import annotations

import compileall
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PY = sys.executable
NSSCOPE = str(Path(PY).with_name("nsscope"))
RUNS = int(os.environ.get("BENCH_ENTER_RUNS", "40"))
GOAL = 1.5


def timed(argv: list[str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds of the process and its children) of one run."""
    t = time.perf_counter()
    pid = os.fork()
    if pid == 0:
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, 1)
            os.execvp(argv[0], argv)
        finally:
            os._exit(127)
    _, status, usage = os.wait4(pid, 0)
    wall = time.perf_counter() - t
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{argv} failed: status {status}")
    return wall, usage.ru_utime + usage.ru_stime


CGROUP = "nsscope-bench-enter"


def own_cgroups() -> list[str]:
    """/sys/fs/cgroup/…/nsscope-bench-enter where cpu, memory and pids are: the v1
    hierarchies, or the unified one."""
    from nsscope.host import mountinfo

    wanted = {"cpu", "memory", "pids"}
    dirs = [os.path.join(mountpoint, CGROUP)
            for _, version, controllers, mountpoint, _ in mountinfo.cgroup_hierarchies()
            if (wanted & set(controllers) if version == 1 else wanted <= set(controllers))]
    for d in dirs:
        os.mkdir(d)
    return dirs


def sandbox(cgroups: list[str] | None = None) -> tuple[subprocess.Popen, int]:
    join = "".join(f"echo $$ > {d}/cgroup.procs; " for d in cgroups or ())
    proc = subprocess.Popen(["sh", "-c", f'{join}exec "$@"', "-",
                             "unshare", "--fork", "--kill-child", "--pid", "--mount-proc",
                             "--mount", "--uts", "--ipc", "--net", "sleep", "1000"])
    for _ in range(500):
        kids = Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()
        if kids and Path(f"/proc/{kids[0]}/comm").read_text().strip() == "sleep":
            return proc, int(kids[0])
        time.sleep(0.01)
    proc.kill()
    raise RuntimeError("the unshare sandbox did not start")


def import_breakdown(pid: int, runs: int = 7) -> str:
    """The modules that cost `nsscope enter` most to import: median self time (ms)."""
    selfs: dict[str, list[int]] = {}
    for _ in range(runs):
        out = subprocess.run([PY, "-X", "importtime", NSSCOPE, "enter", str(pid), "--", "true"],
                             capture_output=True, text=True, check=True)
        for line in out.stderr.splitlines():
            if not line.startswith("import time:") or "self [us]" in line:
                continue
            own, _, name = line.removeprefix("import time:").split("|")
            selfs.setdefault(name.strip(), []).append(int(own))
    top = sorted(((statistics.median(v) / 1000, k) for k, v in selfs.items()), reverse=True)
    total = sum(ms for ms, _ in top)
    return f"{total:.1f} ms in all; " + ", ".join(f"{name} {ms:.1f}" for ms, name in top[:8])


def main() -> None:
    if os.geteuid() != 0:
        print("bench_enter: needs root (unshare makes the target); skipped")
        return
    # an installed package has its bytecode compiled; the editable tree may not
    # (PYTHONDONTWRITEBYTECODE): compile it so that no run pays for compiling
    compileall.compile_dir(str(REPO / "nsscope"), quiet=1)
    proc, pid = sandbox()
    dirs: list[str] = []
    contained = None
    try:
        dirs = own_cgroups()
        contained, cpid = sandbox(dirs)
        cmds = {
            "python -I -c pass": [PY, "-I", "-c", "pass"],
            "nsenter -a -t PID true": ["nsenter", "-a", "-t", str(pid), "true"],
            "nsscope enter PID -- true": [NSSCOPE, "enter", str(pid), "--", "true"],
            "  the same, own cgroups": [NSSCOPE, "enter", str(cpid), "--", "true"],
        }
        walls: dict[str, list[float]] = {k: [] for k in cmds}
        cpus: dict[str, list[float]] = {k: [] for k in cmds}
        for argv in cmds.values():  # warm the page cache
            timed(argv)
        for _ in range(RUNS):
            for name, argv in cmds.items():
                w, c = timed(argv)
                walls[name].append(w)
                cpus[name].append(c)
        wall = {k: statistics.median(v) * 1000 for k, v in walls.items()}
        cpu = {k: statistics.median(v) * 1000 for k, v in cpus.items()}
        floor = "python -I -c pass"
        print(f"{'command':28} {'wall ms':>8} {'x floor':>8} {'cpu ms':>8} {'x floor':>8}"
              f"   (median of {RUNS}, round-robin)")
        for name in cmds:
            print(f"{name:28} {wall[name]:8.2f} {wall[name] / wall[floor]:8.2f} "
                  f"{cpu[name]:8.2f} {cpu[name] / cpu[floor]:8.2f}")
        ours, peer = "nsscope enter PID -- true", "nsenter -a -t PID true"
        ratio = wall[ours] / wall[floor]
        print(f"nsscope / nsenter: {wall[ours] / wall[peer]:.1f}x wall; "
              f"nsscope / floor: {ratio:.2f}x wall, {cpu[ours] / cpu[floor]:.2f}x cpu "
              f"(goal <= {GOAL}x: {'met' if ratio <= GOAL else 'NOT met'}); "
              f"into {len(dirs)} cgroups of its own: "
              f"{wall['  the same, own cgroups'] / wall[floor]:.2f}x wall")
        print(f"imports (self time, median of 7 runs, includes the floor's): "
              f"{import_breakdown(pid)}")
    finally:
        for p in (proc, contained):
            if p is not None:
                p.kill()
                p.wait()
        for d in dirs:
            for _ in range(100):  # the sandbox's sleep dies with unshare, a moment later
                try:
                    os.rmdir(d)
                    break
                except OSError:
                    time.sleep(0.02)


if __name__ == "__main__":
    main()

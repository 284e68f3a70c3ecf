"""`nsscope enter PID -- true` vs `nsenter -a -t PID true` vs the interpreter floor, and
`nsscope enter NAME -- true` beside them.

The target is a sandbox made by unshare (new pid, mount, uts, ipc and net
namespaces), so both tools join five namespaces and fork into the pid one. The
floor is `python -I -c pass` with the venv's interpreter: nsscope cannot start
faster than that. A second sandbox sits in cgroups of its own (cpu, memory and
pids, as a container does), which nsscope joins too (nsenter does not). The
commands run round-robin, RUNS times each (env BENCH_ENTER_RUNS, default 40);
medians of wall-clock and CPU time (user + sys of the process tree) are printed
with the ratios. Goal: nsscope within 1.5x of the floor. Last, where the
start-up time goes: the modules that cost most to import (python -X importtime).

NAME: a runc container of a busybox root, entered by its name (runc's id);
goal (issue 16): `enter NAME` within 2x of `enter PID`. The name is found in
runtime state files and cgroup directories (nsscope/host/candidates.py), not in
a snapshot; the machine's load (/proc/loadavg) is printed with the figures.
"""

from __future__ import annotations

import compileall
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from cleanup import remove_cgroup
from timing import timed

REPO = Path(__file__).resolve().parent.parent
PY = sys.executable
NSSCOPE = str(Path(PY).with_name("nsscope"))
RUNS = int(os.environ.get("BENCH_ENTER_RUNS", "40"))
GOAL = 1.5


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


NAME = "nsscope-bench-enter-name"


class NamedContainer:
    """A runc container (busybox root, sleep) named NAME, in cgroup /nsscope-bench-enter/NAME;
    None of it when runc or busybox is missing."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.pid: int | None = None
        runc, busybox = shutil.which("runc"), shutil.which("busybox")
        if runc is None or busybox is None:
            return
        root = base / "rootfs"
        for d in ("bin", "proc", "sys", "dev", "tmp", "etc"):
            (root / d).mkdir(parents=True, exist_ok=True)
        shutil.copy(busybox, root / "bin/busybox")
        for applet in ("sh", "sleep", "true"):
            os.symlink("busybox", root / "bin" / applet)
        subprocess.run([runc, "spec", "--bundle", str(base)], check=True)
        spec = json.loads((base / "config.json").read_text())
        spec["root"] = {"path": str(root), "readonly": True}
        spec["process"].update(args=["sleep", "1000"], terminal=False)
        spec["linux"]["cgroupsPath"] = f"/{CGROUP}/{NAME}"
        (base / "config.json").write_text(json.dumps(spec))
        with open(os.devnull, "rb+") as null:
            subprocess.run([runc, "run", "-d", "--bundle", str(base), NAME], check=True,
                           stdin=null, stdout=null, stderr=null)
        self.pid = json.loads(subprocess.run([runc, "state", NAME], capture_output=True,
                                             check=True).stdout)["pid"]

    def close(self) -> None:
        if self.pid is not None:
            subprocess.run(["runc", "delete", "-f", NAME], check=False)
            for d in own_cgroup_dirs(f"{CGROUP}/{NAME}") + own_cgroup_dirs(CGROUP):
                remove_cgroup(d)
        shutil.rmtree(self.base, ignore_errors=True)


def own_cgroup_dirs(path: str) -> list[str]:
    from nsscope.host import mountinfo

    return [os.path.join(mountpoint, path)
            for _, _, _, mountpoint, _ in mountinfo.cgroup_hierarchies()
            if os.path.isdir(os.path.join(mountpoint, path))]


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
    named = None
    try:
        dirs = own_cgroups()
        contained, cpid = sandbox(dirs)
        named = NamedContainer(Path(tempfile.mkdtemp(prefix="nsscope-bench-enter-")))
        cmds = {
            "python -I -c pass": [PY, "-I", "-c", "pass"],
            "nsenter -a -t PID true": ["nsenter", "-a", "-t", str(pid), "true"],
            "nsscope enter PID -- true": [NSSCOPE, "enter", str(pid), "--", "true"],
            "  the same, own cgroups": [NSSCOPE, "enter", str(cpid), "--", "true"],
        }
        if named.pid is not None:
            cmds["nsscope enter NAME -- true"] = [NSSCOPE, "enter", NAME, "--", "true"]
            cmds["  runc's PID -- true"] = [NSSCOPE, "enter", str(named.pid), "--", "true"]
        load = Path("/proc/loadavg").read_text().split()[:3]
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
        if named.pid is not None:
            by_name, by_pid = wall["nsscope enter NAME -- true"], wall["  runc's PID -- true"]
            print(f"nsscope enter NAME / enter PID (the same runc container): "
                  f"{by_name / by_pid:.2f}x wall (goal <= 2x: "
                  f"{'met' if by_name <= 2 * by_pid else 'NOT met'}); "
                  f"NAME / the sandbox's PID: {by_name / wall[ours]:.2f}x")
        else:
            print("enter NAME: not measured (needs runc and busybox)")
        now = Path("/proc/loadavg").read_text().split()[:3]
        print(f"load average before/after: {' '.join(load)} / {' '.join(now)} "
              f"({os.cpu_count()} CPUs)")
        print(f"imports (self time, median of 7 runs, includes the floor's): "
              f"{import_breakdown(pid)}")
    finally:
        for p in (proc, contained):
            if p is not None:
                p.kill()
                p.wait()
        if named is not None:
            named.close()
        for d in dirs:
            remove_cgroup(d)  # the sandbox's sleep dies with unshare, a moment later


if __name__ == "__main__":
    main()

"""`nsscope throttle` accuracy and time to effect; `nsscope top` cost per refresh.

1. A busy loop (two threads for 150 %) in the root cgroup is throttled to 10,
   20, 50 and 150 %; its CPU share is then measured from /proc/PID/stat over
   5 s (not from the files nsscope wrote): |measured - target| in points.
   Time to effect: from the start of the command until the kernel first
   throttles the cgroup (nr_throttled moves; cpu.stat polled every 0.5 ms),
   for `nsscope throttle` as a command (interpreter start included) and for
   throttle.apply() in a running process; the floor is a bare write(2) of the
   quota into an existing cgroup. Goals (issue 4): within 1 point, effect
   within 200 ms.
2. Cost per refresh of `nsscope top` with 100 and 1,000 cgroups made under
   /nsscope-bench (cpu and cpuacct hierarchies, or cgroup2), removed after:
   one refresh inside a running process (what `top --watch` and the TUI pay),
   and CPU time per refresh of the command in batch mode, side by side with
   `systemd-cgtop -b` (apt: systemd). Goal: under 50 ms for 1,000 cgroups.
   Then the one-shot `nsscope top --interval 0` (start-up, one reading of every
   cgroup, the containers' names) beside `systemd-cgtop -b -n 1`.

BENCH_TOP_BASELINE=DIR adds the same commands run from the nsscope package in
DIR (another checkout: before/after a change), byte-compiled first as this one
is, and the ratio of this one to it.

The cgroups under test get the largest CPU weight so that other load on the
machine does not starve them below their limit.
"""

from __future__ import annotations

import os
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from nsscope.host.collector import Roots  # noqa: E402
from nsscope.host.cpu_reader import CpuReader  # noqa: E402
from nsscope.host import cgroups, processes  # noqa: E402
from nsscope.actions import throttle  # noqa: E402
from nsscope.kernel.syscalls import write_file  # noqa: E402
from nsscope.host.target import Target  # noqa: E402
from nsscope.cli import top  # noqa: E402
import checkout  # noqa: E402
from cleanup import remove_cgroup  # noqa: E402
from timing import timed  # noqa: E402

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

NSSCOPE = str(Path(sys.executable).with_name("nsscope"))
BUSY = """\
import hashlib, sys, threading
buf = b"x" * (1 << 20)
def spin():
    while True:
        hashlib.sha256(buf).digest()
for _ in range(int(sys.argv[1]) - 1):
    threading.Thread(target=spin, daemon=True).start()
spin()
"""
TARGETS = (10, 20, 50, 150)
MEASURE_S = 5.0
CLK_TCK = os.sysconf("SC_CLK_TCK")


def _cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        data = f.read()
    rest = data[data.rindex(")") + 2:].split()
    return (int(rest[11]) + int(rest[12])) / CLK_TCK


def _share(pid: int, seconds: float) -> float:
    t0, c0 = time.monotonic(), _cpu_seconds(pid)
    time.sleep(seconds)
    return 100.0 * (_cpu_seconds(pid) - c0) / (time.monotonic() - t0)


def _nr_throttled(d: str) -> int | None:
    try:
        with open(d + "/cpu.stat") as f:
            for line in f:
                if line.startswith("nr_throttled "):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def _first_throttle(d: str, t0: float, timeout: float = 3.0) -> float | None:
    """Seconds from t0 until cpu.stat nr_throttled of ``d`` first moves (or appears > 0).

    The kernel adds to nr_throttled when a period ends (the period timer,
    kernel/sched/fair.c do_sched_cfs_period_timer), so this lags the first
    throttling by up to one period."""
    base = None
    while time.perf_counter() - t0 < timeout:
        n = _nr_throttled(d)
        if n is not None:
            if base is None:
                base = n if n == 0 else n - 1  # a cgroup made by the command starts at 0
            if n > base:
                return time.perf_counter() - t0
        time.sleep(0.0005)
    return None


def _in_place(pid: int, cgroup: str, d: str, quota: int, t0: float,
              timeout: float = 5.0) -> float | None:
    """Seconds from t0 until the process is in ``cgroup`` and its quota file holds ``quota``."""
    while time.perf_counter() - t0 < timeout:
        try:
            with open(f"/proc/{pid}/cgroup") as f:
                inside = f":{cgroup}\n" in f.read()
            if inside:
                if os.path.exists(d + "/cpu.max"):
                    with open(d + "/cpu.max") as f:
                        ok = f.read().startswith(f"{quota} ")
                else:
                    with open(d + "/cpu.cfs_quota_us") as f:
                        ok = f.read().strip() == str(quota)
                if ok:
                    return time.perf_counter() - t0
        except OSError:
            pass
        time.sleep(0.0005)
    return None


def _favour(d: str) -> None:
    for name, value in (("cpu.weight", "10000"), ("cpu.shares", "262144")):
        if os.path.exists(f"{d}/{name}"):
            write_file(f"{d}/{name}", value)
            return


class Busy:
    def __init__(self, threads: int) -> None:
        self.p = subprocess.Popen([sys.executable, "-c", BUSY, str(threads)],
                                  stdin=subprocess.DEVNULL, start_new_session=True)
        while len(os.listdir(f"/proc/{self.p.pid}/task")) < threads:
            time.sleep(0.01)
        time.sleep(0.3)
        self.target = Target(pid=self.p.pid, starttime=processes.starttime(self.p.pid))

    def close(self) -> None:
        if any(r.target.pid == self.p.pid for r in throttle.records()):
            throttle.reset(self.p.pid)
        self.p.kill()
        self.p.wait()


def accuracy() -> None:
    hst = throttle.host()
    with open("/proc/loadavg") as f:
        load = f.read().split()[0]
    print(f"throttle: cgroup v{hst.version}, {os.cpu_count()} CPUs, load average {load}; "
          f"a busy loop in the root cgroup; share from /proc/PID/stat over {MEASURE_S:g} s")
    print("time to effect: 'in place' = the process is in the limited cgroup and its quota file "
          "holds the limit;\n'throttled' = the kernel counted the first throttled period "
          "(nr_throttled; up to one 100 ms period late)")
    print(f"{'target':>7} {'measured':>9} {'|error|':>8} | {'command':^19} | {'apply()':^19} | "
          f"{'bare write(2)':^13}")
    print(f"{'':>7} {'':>9} {'':>8} | {'in place':>9} {'throttled':>9} | {'in place':>9} "
          f"{'throttled':>9} | {'throttled':>13}")
    worst = 0.0
    for pct in TARGETS:
        threads = 2 if pct > 100 else 1
        quota = pct * 1000
        # the command, end to end (interpreter start included)
        b = Busy(threads)
        cg = f"/nsscope/throttle-{b.p.pid}"
        d = hst.dir(cg)
        try:
            t0 = time.perf_counter()
            cmd = subprocess.Popen([NSSCOPE, "throttle", str(b.p.pid), f"{pct}%"],
                                   stdout=subprocess.DEVNULL)
            cli_in = _in_place(b.p.pid, cg, d, quota, t0)
            cli_thr = _first_throttle(d, t0)
            if cmd.wait() != 0:
                print(f"{pct:>6}%  nsscope throttle failed")
                continue
            _favour(os.path.dirname(d))
            _favour(d)
            time.sleep(0.5)
            measured = _share(b.p.pid, MEASURE_S)
        finally:
            b.close()
        # the call, in a running process
        b = Busy(threads)
        try:
            t0 = time.perf_counter()
            throttle.apply(b.target, throttle.parse_limit(f"{pct}%"))
            api_in = time.perf_counter() - t0
            api_thr = _first_throttle(hst.dir(f"/nsscope/throttle-{b.p.pid}"), t0)
        finally:
            b.close()
        floor = _barewrite_file(hst, pct, threads)
        worst = max(worst, abs(measured - pct))
        ms = lambda s: "never" if s is None else f"{1000 * s:.0f} ms"  # noqa: E731
        print(f"{pct:>6}% {measured:>8.1f}% {abs(measured - pct):>7.1f}  | {ms(cli_in):>9} "
              f"{ms(cli_thr):>9} | {ms(api_in):>9} {ms(api_thr):>9} | {ms(floor):>13}",
              flush=True)
    print(f"worst |measured - target|: {worst:.1f} points (goal: within 1). 'never': the loop "
          "did not use its quota within 3 s (the machine was busy), so nothing was throttled")
    _remove_parent(hst)


def _barewrite_file(hst: throttle.Host, pct: int, threads: int) -> float | None:
    """The floor: the quota written with one write(2) into a cgroup made beforehand."""
    path = "/nsscope-bench-floor"
    dirs = [h.mountpoint + path for h in (hst.cpu, *hst.companions)]
    for d in dirs:
        os.mkdir(d)
    b = Busy(threads)
    try:
        for d in dirs:
            write_file(d + "/cgroup.procs", str(b.p.pid))
        time.sleep(0.2)
        d = hst.dir(path)
        quota = pct * 1000
        t0 = time.perf_counter()
        if hst.version == 2:
            write_file(d + "/cpu.max", f"{quota} 100000")
        else:
            write_file(d + "/cpu.cfs_quota_us", str(quota))
        return _first_throttle(d, t0)
    finally:
        b.p.kill()
        b.p.wait()
        for d in reversed(dirs):
            remove_cgroup(d)


def _remove_parent(hst: throttle.Host) -> None:
    for h in hst.hierarchies:
        if os.path.isdir(h.mountpoint + throttle.PARENT):
            try:
                os.rmdir(h.mountpoint + throttle.PARENT)
            except OSError:
                pass


# --- top --------------------------------------------------------------------------------------

class BenchTree:
    """N empty cgroups under /nsscope-bench where top and systemd-cgtop read CPU figures."""

    def __init__(self, n: int) -> None:
        hs = cgroups.hierarchies()
        mode = cgroups.detect_mode()
        if mode == "unified":
            self.roots = [h.mountpoint for h in hs if h.version == 2]
        else:
            self.roots = [h.mountpoint for h in hs
                          if h.version == 1 and ("cpu" in h.controllers
                                                 or "cpuacct" in h.controllers)]
        self.n = n
        for r in self.roots:
            os.mkdir(f"{r}/nsscope-bench")
            for i in range(n):
                os.mkdir(f"{r}/nsscope-bench/c{i}")

    def close(self) -> None:
        for r in self.roots:
            for i in range(self.n):
                remove_cgroup(f"{r}/nsscope-bench/c{i}")
            remove_cgroup(f"{r}/nsscope-bench")


def _children_cpu(argv: list[str]) -> float:
    """CPU time (user + system) of one run of argv."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def _per_refresh(argv_n) -> float:
    """CPU seconds per refresh: (cost of 21 refreshes - cost of 1) / 20, median of 3."""
    return statistics.median((_children_cpu(argv_n(21)) - _children_cpu(argv_n(1))) / 20
                             for _ in range(3))


def _nsscope(*args: str) -> list[str]:
    return [NSSCOPE, *args]


def _baseline() -> Callable[..., list[str]] | None:
    """The CLI of the checkout BENCH_TOP_BASELINE names (before/after)."""
    directory = os.environ.get("BENCH_TOP_BASELINE")
    if not directory:
        return None
    argv = checkout.cli(directory)
    return lambda *args: [*argv, *args]


#: `top --watch` every 0.1 s, followed by its --count
WATCH = ("top", "--watch", "--interval", "0.1", "--count")


def top_cost() -> None:
    cgtop = shutil.which("systemd-cgtop")
    before = _baseline()
    print("\ntop: cost of one refresh (CPU figures of every cgroup, rates, sort)")
    print(f"{'cgroups':>8} {'in-process':>11} {'command':>9} {'systemd-cgtop':>14} "
          f"{'ratio':>6}" + (f" {'baseline':>9} {'/base':>6}" if before else ""))
    top.raise_fd_limit()
    one_shot = []
    for n in (100, 1000):
        tree = BenchTree(n)
        try:
            # as `top` reads since issue 15: memory and pids figures too, and the
            # containers' names (recognised once here: the cgroups do not change)
            every = cgroups.hierarchies()
            hs = top.cpu_hierarchies(every)
            names = top.Names(Roots())
            with CpuReader(hs + tuple(h for h in every if h not in hs), skip=top.SKIP,
                           memory=True, pids=True, io=True) as reader:
                prev = top.read(reader)
                names.update(frozenset(prev.cgroups))
                times = []
                for _ in range(20):
                    t = time.perf_counter()
                    cur = top.read(reader)
                    top.rows(cur, prev, names.update(frozenset(cur.cgroups)))
                    times.append(time.perf_counter() - t)
                    prev = cur
                total = len(cur.cgroups)
            inproc = statistics.median(times)
            cmd = _per_refresh(lambda k: _nsscope(*WATCH, str(k)))
            if cgtop:
                peer = _per_refresh(lambda k: [cgtop, "-b", "--raw", "-n", str(k + 1),
                                               "-d", "0.1", "--depth", "10"])
                peer_s, ratio = f"{1000 * peer:.1f} ms", f"{cmd / peer:.2f}"
            else:
                peer_s, ratio = "n/a", "-"
            extra = ""
            if before:
                base = _per_refresh(lambda k: before(*WATCH, str(k)))
                extra = f" {1000 * base:>6.1f} ms {cmd / base:>6.2f}"
            print(f"{total:>8} {1000 * inproc:>8.1f} ms {1000 * cmd:>6.1f} ms {peer_s:>14} "
                  f"{ratio:>6}{extra}", flush=True)
            one_shot.append((total, _one_shot(cgtop, before)))
        finally:
            tree.close()
    if cgtop is None:
        print("systemd-cgtop not installed (apt: systemd): no peer to compare with")
    else:
        print("command and systemd-cgtop: CPU time per refresh, (21 refreshes - 1) / 20; "
              "ratio = nsscope / systemd-cgtop")
    print("\ntop --interval 0 (one-shot: start-up, one reading, names), CPU ms, median of 15")
    print(f"{'cgroups':>8} {'nsscope':>8} {'systemd-cgtop -n 1':>19}"
          + (f" {'baseline':>9} {'/base':>6}" if before else ""))
    for total, (mine, peer, base) in one_shot:
        print(f"{total:>8} {mine:>8.1f} {peer if peer is None else f'{peer:.1f}':>19}"
              + (f" {base:>9.1f} {mine / base:>6.2f}" if base else ""))


def _one_shot(cgtop: str | None, before: Callable[..., list[str]] | None
              ) -> tuple[float, float | None, float | None]:
    """CPU ms of `nsscope top --interval 0`, of `systemd-cgtop -b -n 1` and of the
    baseline's, round-robin, median of 15."""
    subjects = {"mine": _nsscope("top", "--interval", "0")}
    if cgtop:
        subjects["peer"] = [cgtop, "-b", "--raw", "-n", "1", "--depth", "10"]
    if before:
        subjects["base"] = before("top", "--interval", "0")
    cpu: dict[str, list[float]] = {k: [] for k in subjects}
    for _ in range(15):
        for k, argv in subjects.items():
            cpu[k].append(timed(argv, keep_stderr=False)[1])
    med = {k: 1000 * statistics.median(v) for k, v in cpu.items()}
    return med["mine"], med.get("peer"), med.get("base")


def main() -> None:
    if os.geteuid() != 0:
        print("bench_throttle: needs root (it makes cgroups)")
        return
    old = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        accuracy()
        top_cost()
    finally:
        signal.signal(signal.SIGINT, old)


if __name__ == "__main__":
    main()

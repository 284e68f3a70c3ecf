"""The TUI's running cost beside htop's: CPU (% of one core) and RSS, at 1,000 and 10,000 processes.

Each tool runs in its own tmux session of 160x48 on the same host state (N
idle processes from bench/spawn.py). nsscope refreshes once a second with a
cgroup selected (a cgroup of the bench's own, holding a sleeping process) and
its CPU plot visible; htop runs with -d 10 (one refresh a second). CPU is
utime+stime of the tool's process from /proc/PID/stat over the measured
window (default 60 s; BENCH_TUI_SECONDS to change), RSS is VmRSS at the end.
Goals (issues 8 and 16): nsscope ≤ 0.5x htop's CPU at 1,000 processes, ≤ 1x at
10,000, RSS under 120 MiB, every run.

    .venv/bin/python bench/bench_tui.py [N ...]

BENCH_TUI_NSSCOPE=PATH runs another nsscope executable instead of this one;
BENCH_TUI_BASELINE=DIR adds the TUI of the nsscope package in DIR (another
checkout: before/after a change), measured the same way in the same run.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import checkout
from cleanup import remove_cgroup

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
PY = REPO / ".venv/bin/python"
NSSCOPE = os.environ.get("BENCH_TUI_NSSCOPE") or REPO / ".venv/bin/nsscope"
TICK = os.sysconf("SC_CLK_TCK")


def _tmux(*args: str) -> str:
    for attempt in range(3):
        r = subprocess.run(["tmux", *args], capture_output=True, text=True, check=False,
                           timeout=30)
        # a session started while the server of the last one (killed) is still exiting
        # fails ("server exited unexpectedly"): once more, after it has gone
        if r.returncode == 0 or args[0] != "new-session" or attempt == 2:
            break
        time.sleep(0.5)
    if r.returncode != 0:
        raise RuntimeError(f"tmux {' '.join(args[:1])} failed: {r.stderr.strip()}")
    return r.stdout


def _screen(session: str) -> str:
    return _tmux("capture-pane", "-p", "-t", session)


def _wait(session: str, text: str, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if text in _screen(session):
            return
        time.sleep(0.25)
    raise RuntimeError(f"{session}: {text!r} never showed:\n{_screen(session)}")


def _cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def _rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _measure(pid: int, seconds: float) -> tuple[float, float]:
    c0, t0 = _cpu_seconds(pid), time.monotonic()
    time.sleep(seconds)
    c1, t1 = _cpu_seconds(pid), time.monotonic()
    return 100.0 * (c1 - c0) / (t1 - t0), _rss_mib(pid)


class _BenchCgroup:
    """A cgroup of the bench's own (cpu, and cpuacct where mounted apart) with a sleeper."""

    def __init__(self) -> None:
        from nsscope.host import cgroups
        self.name = f"nsscope-bench-tui-{os.getpid()}"
        hs = cgroups.hierarchies()
        cpu = cgroups.cpu_hierarchy(hs)
        if cpu is None:
            raise RuntimeError("no cpu controller mounted")
        acct = next((h for h in hs if h.version == 1 and "cpuacct" in h.controllers
                     and h is not cpu), None)
        self.dirs = [h.mountpoint + "/" + self.name for h in (cpu, acct) if h is not None]
        for d in self.dirs:
            os.mkdir(d)
        self.proc = subprocess.Popen(["sleep", "100000"])
        for d in self.dirs:
            fd = os.open(d + "/cgroup.procs", os.O_WRONLY)
            try:
                os.write(fd, str(self.proc.pid).encode())
            finally:
                os.close(fd)

    def close(self) -> None:
        self.proc.kill()
        self.proc.wait()
        for d in self.dirs:
            remove_cgroup(d)


def _from_checkout(directory: str) -> str:
    """A shell command starting the TUI of the nsscope package in ``directory``."""
    import shlex

    return shlex.join(checkout.cli(directory))


def run_nsscope(seconds: float, cg: _BenchCgroup, command: str | None = None
                ) -> tuple[float, float]:
    session = f"nsscope-bench-tui-{os.getpid()}"
    _tmux("new-session", "-d", "-s", session, "-x", "160", "-y", "48",
          f"exec env -u COLUMNS -u LINES TERM=xterm-256color {command or NSSCOPE}")
    try:
        pid = int(_tmux("display", "-p", "-t", session, "#{pane_pid}").strip())
        _wait(session, " processes ")
        _tmux("send-keys", "-t", session, "3")
        _wait(session, "/ (host)")
        # follow the sleeper (f on a cgroup asks for the pid; the tree opens down to
        # it), stop following (f again), go up to
        # its cgroup: the cgroup is selected and its CPU plot on screen
        _tmux("send-keys", "-t", session, "f")
        _wait(session, "Follow pid (empty")
        _tmux("send-keys", "-t", session, str(cg.proc.pid), "Enter")
        _wait(session, f"following {cg.proc.pid}")
        _tmux("send-keys", "-t", session, "f")  # f again stops following (issue 15)
        time.sleep(1)
        if "Follow pid (empty" in _screen(session):
            # a version before issue 15 asks again: an empty pid stops following
            _tmux("send-keys", "-t", session, "C-u", "Enter")
            time.sleep(1)
        _tmux("send-keys", "-t", session, "S-Left")
        _wait(session, f"cgroup  /{cg.name}")
        time.sleep(10)  # past the first full reads
        return _measure(pid, seconds)
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True, check=False)


def run_htop(seconds: float) -> tuple[float, float]:
    session = f"nsscope-bench-htop-{os.getpid()}"
    _tmux("new-session", "-d", "-s", session, "-x", "160", "-y", "48",
          "exec env -u COLUMNS -u LINES TERM=xterm-256color htop -d 10")
    try:
        pid = int(_tmux("display", "-p", "-t", session, "#{pane_pid}").strip())
        _wait(session, "Tasks:")
        time.sleep(10)
        return _measure(pid, seconds)
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True, check=False)


def main(argv: list[str] | None = None) -> int:
    argv = [] if argv is None else argv
    sizes = [int(a) for a in argv] or [1000, 10000]
    seconds = float(os.environ.get("BENCH_TUI_SECONDS", "60"))
    for tool in ("tmux", "htop"):
        if shutil.which(tool) is None:
            print(f"bench_tui: needs {tool} (apt-get install {tool})")
            return 1
    if os.geteuid() != 0:
        print("bench_tui: needs root (it makes a cgroup)")
        return 1
    baseline = os.environ.get("BENCH_TUI_BASELINE")
    rows = []
    for n in sizes:
        spawn = subprocess.Popen([str(PY), str(REPO / "bench/spawn.py"), str(n), "0.1"],
                                 stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        cg = None
        try:
            assert spawn.stdout is not None and spawn.stdin is not None
            if spawn.stdout.readline().strip() != "ready":
                raise RuntimeError("spawn.py did not get ready")
            procs = sum(1 for name in os.listdir("/proc") if name.isdigit())
            cg = _BenchCgroup()
            load = os.getloadavg()[0]
            ns_cpu, ns_rss = run_nsscope(seconds, cg)
            ht_cpu, ht_rss = run_htop(seconds)
            base = run_nsscope(seconds, cg, _from_checkout(baseline)) if baseline else None
            rows.append((n, procs, load, ns_cpu, ht_cpu, ns_rss, ht_rss, base))
        finally:
            if cg is not None:
                cg.close()
            if spawn.stdin:
                spawn.stdin.close()
            spawn.wait()
    print(f"TUI at 1 Hz in tmux 160x48, a cgroup selected, its plot visible; "
          f"{seconds:.0f} s each, % of one core from /proc/PID/stat")
    print(f"{'spawned':>8} {'procs':>6} {'load':>5} {'nsscope %':>10} {'htop %':>8} "
          f"{'ratio':>6} {'goal':>5} {'nsscope MiB':>12} {'htop MiB':>9}"
          + (f" {'baseline %':>10} {'/base':>6} {'base MiB':>9}" if baseline else ""))
    for n, procs, load, a, b, ra, rb, base in rows:
        goal = 0.5 if n <= 1000 else 1.0
        ratio = a / b if b else float("inf")
        extra = f" {base[0]:>10.1f} {a / base[0]:>6.2f} {base[1]:>9.1f}" if base else ""
        print(f"{n:>8} {procs:>6} {load:>5.1f} {a:>10.1f} {b:>8.1f} {ratio:>6.2f} {goal:>5.1f} "
              f"{ra:>12.1f} {rb:>9.1f}{extra}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

"""`nsscope record`: the CPU a recorder costs, and how fast its file grows, beside atop.

A host with 50 runc containers (busybox; 45 asleep, 5 in a busy loop held to 5 % by
their own CPU quota, so that figures move and throttling is recorded every sample),
made in a PID namespace of the benchmark's own (`unshare --pid --fork --mount-proc`,
as bench_serve does): the recorders see these containers and nothing else of what
other work on this machine starts and stops meanwhile; the cgroups are the real ones.

Run side by side for BENCH_RECORD_SECONDS (default 180), each in a cgroup of its own
whose CPU counter (cpuacct.usage, or cpu.stat usage_usec on v2) is read after a
warm-up (the first sample reads every process and writes the whole host) and at the end:

- `nsscope record --interval 1` (the goal: ≤ 2 % of a core),
- `nsscope record` at the default 5 s (its file's growth: the goal ≤ 50 MB a day),
- atop (Debian's atop 2.8, the classic recorder; `atop -w FILE 1` and `atop -w FILE 5`),
  the peer: it records every process and host-wide figures, no cgroup, no namespace.

A day's size is extrapolated from the growth over the run, after the first sample
(``file after one sample + growth per second × 86,400``): honest for a host as quiet
as this one; processes that come and go and cgroups whose figures move cost more.
below (Meta's recorder, the brief's reference) is not packaged for Debian 12 and
publishes no figure of its cost or store size that we could find; its store keeps
one full, zstd-compressed frame per sample (below/store/src/lib.rs), nsscope keeps
changes only (nsscope/host/recording/schema.py).

BENCH_RECORD_SECONDS (180), BENCH_RECORD_CONTAINERS (50), BENCH_RECORD_BUSY (5).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from cleanup import remove_cgroup

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from nsscope.host import cgroups  # noqa: E402
from nsscope.kernel.syscalls import write_file  # noqa: E402

NSSCOPE = str(Path(sys.executable).with_name("nsscope"))
SECONDS = float(os.environ.get("BENCH_RECORD_SECONDS", "180"))
N = int(os.environ.get("BENCH_RECORD_CONTAINERS", "50"))
BUSY = int(os.environ.get("BENCH_RECORD_BUSY", "5"))
WARMUP = 10.0
DAY = 86400


def _read(path: str) -> str:
    with open(path) as f:
        return f.read()


class Containers:
    """N runc containers of one busybox root, each in /<top>/<id>; removed by close."""

    def __init__(self, base: Path, n: int, busy: int) -> None:
        self.base = base
        self.top = f"nsscope-test-bench-rec-{uuid.uuid4().hex[:8]}"
        self.ids: list[str] = []
        root = base / "rootfs"
        for d in ("bin", "proc", "sys", "dev", "tmp"):
            (root / d).mkdir(parents=True, exist_ok=True)
        busybox = shutil.which("busybox")
        assert busybox is not None, "busybox-static is a bench peer (tests/peers)"
        shutil.copy(busybox, root / "bin/busybox")
        for applet in ("sh", "sleep"):
            os.symlink("busybox", root / "bin" / applet)
        try:
            for i in range(n):
                self._run(f"{self.top}-{i:02d}", busy=i < busy)
        except BaseException:
            self.close()
            raise

    def _run(self, cid: str, busy: bool) -> None:
        b = self.base / cid
        b.mkdir()
        subprocess.run(["runc", "spec", "--bundle", str(b)], check=True)
        spec = json.loads((b / "config.json").read_text())
        spec["root"] = {"path": str(self.base / "rootfs"), "readonly": True}
        args = ["sh", "-c", "while :; do :; done"] if busy else ["sleep", "100000"]
        spec["process"].update(args=args, terminal=False)
        spec["linux"]["cgroupsPath"] = f"/{self.top}/{cid}"
        if busy:
            spec["linux"]["resources"] = {"cpu": {"quota": 5000, "period": 100000}}
        (b / "config.json").write_text(json.dumps(spec))
        self.ids.append(cid)
        subprocess.run(["runc", "run", "-d", "--bundle", str(b), cid], check=True,
                       stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)

    def close(self) -> None:
        for cid in self.ids:
            subprocess.run(["runc", "delete", "-f", cid], check=False, capture_output=True)
        for h in cgroups.hierarchies():
            top = f"{h.mountpoint}/{self.top}"
            for _ in range(100):
                if not os.path.isdir(top):
                    break
                for d, _, _ in sorted(os.walk(top), key=lambda w: -w[0].count("/")):
                    try:
                        os.rmdir(d)
                    except OSError:
                        pass
                time.sleep(0.05)


class Measured:
    """A command in a cgroup of its own, whose CPU counter is read in ns."""

    def __init__(self, name: str, argv: list[str]) -> None:
        hs = cgroups.hierarchies()
        h = next((h for h in hs if h.version == 1 and "cpuacct" in h.controllers), None) or \
            next(h for h in hs if h.version == 2)
        self.v1 = h.version == 1
        self.name = name
        self.dir = h.mountpoint + f"/nsscope-test-bench-rec-{name}-{uuid.uuid4().hex[:8]}"
        os.mkdir(self.dir)
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        write_file(self.dir + "/cgroup.procs", str(self.proc.pid))

    def cpu_ns(self) -> int:
        if self.v1:
            return int(_read(self.dir + "/cpuacct.usage"))
        stat = dict(line.split() for line in _read(self.dir + "/cpu.stat").splitlines())
        return int(stat["usage_usec"]) * 1000

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        remove_cgroup(self.dir)


def _size(path: Path) -> int:
    """What the file holds: for a recording, its pages in use as SQLite counts them
    (the write-ahead log beside it is a fixed-size scratch file, reused after each
    checkpoint: its size says nothing of the data); for atop's file, its size."""
    if path.suffix != ".db":
        return os.path.getsize(path) if path.exists() else 0
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)
    try:
        pages, free, size = (db.execute(f"PRAGMA {p}").fetchone()[0]
                             for p in ("page_count", "freelist_count", "page_size"))
        return (pages - free) * size
    finally:
        db.close()


def main() -> None:
    if os.geteuid() != 0:
        print("bench_record: needs root (cgroups, runc)")
        return
    for tool in ("runc", "atop", "busybox"):
        if shutil.which(tool) is None:
            print(f"bench_record: {tool} is missing (tests/peers bench)")
            return
    if not os.environ.get("BENCH_RECORD_INNER"):
        env = dict(os.environ, BENCH_RECORD_INNER="1")
        subprocess.run(["unshare", "--pid", "--fork", "--mount-proc", sys.executable,
                        os.path.abspath(__file__)], env=env, check=True)
        return
    tmp = Path(tempfile.mkdtemp(prefix="nsscope-bench-record-"))
    host = Containers(tmp, N, BUSY)
    runs: list[Measured] = []
    try:
        one = tmp / "one.db"  # one sample: the base a day's growth is added to
        subprocess.run([NSSCOPE, "record", str(one), "--for", "0"], check=True,
                       capture_output=True)
        files = {"nsscope 1 s": tmp / "n1.db", "nsscope 5 s": tmp / "n5.db",
                 "atop 1 s": tmp / "a1.raw", "atop 5 s": tmp / "a5.raw"}
        runs = [
            Measured("nsscope 1 s", [NSSCOPE, "record", str(files["nsscope 1 s"]),
                                     "--interval", "1"]),
            Measured("nsscope 5 s", [NSSCOPE, "record", str(files["nsscope 5 s"])]),
            Measured("atop 1 s", ["atop", "-w", str(files["atop 1 s"]), "1"]),
            Measured("atop 5 s", ["atop", "-w", str(files["atop 5 s"]), "5"]),
        ]
        time.sleep(WARMUP)
        start = time.monotonic()
        cpu0 = {r.name: r.cpu_ns() for r in runs}
        size0 = {name: _size(f) for name, f in files.items()}
        time.sleep(SECONDS)
        wall = time.monotonic() - start
        cpu = {r.name: (r.cpu_ns() - cpu0[r.name]) / 1e9 for r in runs}
        size1 = {name: _size(f) for name, f in files.items()}
        for r in runs:
            r.stop()
        closed = {name: _size(f) for name, f in files.items()}
        print(f"{N} runc containers ({BUSY} busy, held to 5 %), {SECONDS:g} s after a "
              f"{WARMUP:g} s warm-up, cgroup {cgroups.detect_mode()}, "
              f"load average {os.getloadavg()[0]:.1f}")
        print(f"{'':26} {'% of a core':>12} {'grew, KB':>9} {'a day, MB':>10} {'closed, KB':>11}")
        day: dict[str, float] = {}
        for name in files:
            grew = size1[name] - size0[name]
            base = _size(one) if name.startswith("nsscope") else size0[name]
            day[name] = (base + grew / wall * DAY) / 1e6
            print(f"{name:26} {100 * cpu[name] / wall:>12.2f} {grew / 1e3:>9.0f} "
                  f"{day[name]:>10.1f} {closed[name] / 1e3:>11.0f}")
        n1 = 100 * cpu["nsscope 1 s"] / wall
        a1 = 100 * cpu["atop 1 s"] / wall
        print(f"goal: nsscope at 1 s ≤ 2 % of a core: {n1:.2f} % ({n1 / 2:.2f}x the goal; "
              f"{n1 / a1 if a1 else float('nan'):.2f}x atop)")
        print(f"goal: nsscope at 5 s ≤ 50 MB a day: {day['nsscope 5 s']:.1f} MB "
              f"({day['nsscope 5 s'] / 50:.2f}x the goal; "
              f"{day['nsscope 5 s'] / day['atop 5 s']:.2f}x atop)", flush=True)
    finally:
        for r in runs:
            r.stop()
        host.close()
        keep = os.environ.get("BENCH_RECORD_KEEP")  # a directory: the files kept there
        if keep:
            for f in tmp.glob("*.*"):
                if f.suffix in (".db", ".raw"):
                    shutil.copy(f, keep)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()

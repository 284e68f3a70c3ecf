"""`nsscope serve`: the CPU one scrape costs, and what the server uses between scrapes.

A host with 100 containers, made as runtimes make them: each a kubelet-like cgroup
(/nsscope-test-bench-…/kubepods/besteffort/pod<uid>/<64 hex>) in every hierarchy
(cpuset configured from its parent, as runc does), with one process in new uts,
ipc, net and mount namespaces (`unshare … sleep`). `nsscope serve` runs as a
real process in a cgroup of its own, whose CPU counter (cpuacct.usage, or
cpu.stat usage_usec on v2: every thread, those that exited too) is read around
each scrape and over the whole run.

Scrapes come every 15 s (Prometheus' default interval) for two minutes, asked the way
Prometheus asks (OpenMetrics, gzip); the first one (which reads every process) is
reported apart.

The host is made in a PID namespace of the benchmark's own (`unshare --pid --fork
--mount-proc`): serve sees the 100 containers and nothing else, not the processes
other work on this machine starts and stops meanwhile (each new process costs a scrape
a read of its /proc files); its cgroups are the real ones. The load average is printed:
the CPU a scrape costs grows on a machine whose cores are shared.

Goals (issue 17): one scrape ≤ 50 ms of CPU at 100 containers; ≤ 0.5 % of a core on
average between 15 s scrapes. cAdvisor, the peer, is not packaged for Debian 12 and
cannot be fetched here: the figures are set against the goals (and cAdvisor's
reported cost: ~1 s housekeeping of every cgroup, its issues #2049, #2533).

BENCH_SERVE_CONTAINERS (default 100), BENCH_SERVE_INTERVAL (15), BENCH_SERVE_SCRAPES (8).
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

from cleanup import remove_cgroup

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from nsscope.host import cgroups  # noqa: E402
from nsscope.kernel.syscalls import write_file  # noqa: E402

NSSCOPE = str(Path(sys.executable).with_name("nsscope"))
N = int(os.environ.get("BENCH_SERVE_CONTAINERS", "100"))
#: what Prometheus 2.x sends (scrape/scrape.go acceptHeader): OpenMetrics first, and gzip
ACCEPT = ("application/openmetrics-text;version=1.0.0,application/openmetrics-text;"
          "version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1")
INTERVAL = float(os.environ.get("BENCH_SERVE_INTERVAL", "15"))
SCRAPES = int(os.environ.get("BENCH_SERVE_SCRAPES", "8"))


def _read(path: str) -> str:
    with open(path) as f:
        return f.read()


class Host:
    """N containers (cgroup + namespaced process each) under one top cgroup, removed by close."""

    def __init__(self, n: int) -> None:
        self.top = f"/nsscope-test-bench-{uuid.uuid4().hex[:8]}"
        self.hs = [h for h in cgroups.hierarchies() if h.version == 2 or h.controllers]
        self.procs: list[subprocess.Popen] = []
        try:
            for _ in range(n):
                path = f"{self.top}/kubepods/besteffort/pod{uuid.uuid4()}/{uuid.uuid4().hex * 2}"
                p = subprocess.Popen(["unshare", "--uts", "--ipc", "--net", "--mount",
                                      "sleep", "100000"], stdin=subprocess.DEVNULL)
                self.procs.append(p)
                for h in self.hs:
                    self._mkdir(h, path)
                    write_file(h.mountpoint + path + "/cgroup.procs", str(p.pid))
        except BaseException:
            self.close()
            raise

    @staticmethod
    def _mkdir(h, path: str) -> None:
        parts = path.strip("/").split("/")
        for i in range(1, len(parts) + 1):
            d = h.mountpoint + "/" + "/".join(parts[:i])
            if os.path.isdir(d):
                continue
            os.mkdir(d)
            if "cpuset" in h.controllers and h.version == 1:
                # a new v1 cpuset has no CPUs: runc copies its parent's
                parent = os.path.dirname(d)
                for f in ("cpuset.cpus", "cpuset.mems"):
                    write_file(f"{d}/{f}", _read(f"{parent}/{f}").strip())

    def close(self) -> None:
        for p in self.procs:
            p.kill()
            p.wait()
        for _ in range(100):
            left = []
            for h in self.hs:
                for d, _, _ in sorted(os.walk(h.mountpoint + self.top),
                                      key=lambda w: -w[0].count("/")):
                    try:
                        os.rmdir(d)
                    except FileNotFoundError:
                        pass
                    except OSError:
                        left.append(d)
            if not left:
                return
            time.sleep(0.05)


class Server:
    """`nsscope serve` in a cgroup of its own, whose CPU counter is read in ns."""

    def __init__(self) -> None:
        hs = cgroups.hierarchies()
        h = next((h for h in hs if h.version == 1 and "cpuacct" in h.controllers), None) or \
            next(h for h in hs if h.version == 2)
        self.dir = h.mountpoint + f"/nsscope-test-bench-serve-{uuid.uuid4().hex[:8]}"
        os.mkdir(self.dir)
        self.v1 = h.version == 1
        log = open(os.devnull, "wb")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [NSSCOPE, "serve", "--listen", "127.0.0.1:0"], stdin=subprocess.DEVNULL,
            stdout=log, stderr=subprocess.PIPE, text=True)
        # before it serves: the threads of its requests start in the same cgroup
        write_file(self.dir + "/cgroup.procs", str(self.proc.pid))
        line = self.proc.stderr.readline()
        self.url = line.split("listening on ", 1)[1].strip()

    def cpu_ns(self) -> int:
        if self.v1:
            return int(_read(self.dir + "/cpuacct.usage"))
        stat = dict(line.split() for line in _read(self.dir + "/cpu.stat").splitlines())
        return int(stat["usage_usec"]) * 1000

    def scrape(self) -> tuple[float, int]:
        """(CPU ms the server spent on it, bytes sent), asked as Prometheus asks."""
        before = self.cpu_ns()
        req = urllib.request.Request(self.url, headers={"Accept": ACCEPT,
                                                        "Accept-Encoding": "gzip"})
        with urllib.request.urlopen(req, timeout=60) as r:
            body = r.read()
        # the handler thread may still be closing the socket: let it finish
        time.sleep(0.05)
        return (self.cpu_ns() - before) / 1e6, len(body)

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait()
        remove_cgroup(self.dir)


def main() -> None:
    if os.geteuid() != 0:
        print("bench_serve: needs root (cgroups, namespaces)")
        return
    if not os.environ.get("BENCH_SERVE_INNER"):
        # the same benchmark, in a PID namespace (and /proc) of its own: module doc
        env = dict(os.environ, BENCH_SERVE_INNER="1")
        subprocess.run(["unshare", "--pid", "--fork", "--mount-proc", sys.executable,
                        os.path.abspath(__file__)], env=env, check=True)
        return
    host = Host(N)
    server = None
    try:
        server = Server()
        start_ns, start = server.cpu_ns(), time.monotonic()
        first, size = server.scrape()
        costs = []
        scrape_ns = 0
        for _ in range(SCRAPES):
            time.sleep(INTERVAL)
            ms, size = server.scrape()
            costs.append(ms)
            scrape_ns += int(ms * 1e6)
        wall = time.monotonic() - start
        total_ms = (server.cpu_ns() - start_ns) / 1e6
        idle_ms = max(0.0, total_ms - first - scrape_ns / 1e6)
        avg_pct = 100 * total_ms / 1e3 / wall
        idle_pct = 100 * idle_ms / 1e3 / wall
        print(f"{N} containers, {SCRAPES} scrapes {INTERVAL:g} s apart ({size} bytes each), "
              f"cgroup {cgroups.detect_mode()}, load average {os.getloadavg()[0]:.1f}")
        print(f"{'':34} {'nsscope':>9} {'goal':>7} {'ratio':>6}")
        print(f"{'first scrape, CPU ms':34} {first:>9.1f} {50:>7} {first / 50:>5.2f}x")
        med, worst = statistics.median(costs), max(costs)
        print(f"{'scrape, CPU ms (median)':34} {med:>9.1f} {50:>7} {med / 50:>5.2f}x")
        print(f"{'scrape, CPU ms (max)':34} {worst:>9.1f} {50:>7} {worst / 50:>5.2f}x")
        print(f"{'between scrapes, % of a core':34} {idle_pct:>9.3f} {0.5:>7} "
              f"{idle_pct / 0.5:>5.2f}x")
        print(f"{'overall (scrapes too), % of a core':34} {avg_pct:>9.3f} {0.5:>7} "
              f"{avg_pct / 0.5:>5.2f}x", flush=True)
    finally:
        if server is not None:
            server.close()
        host.close()


if __name__ == "__main__":
    main()

"""`nsscope run --rm --busybox -- true` vs `runc run` of the same rootfs vs `unshare`.

All three start `true` in new mnt, uts, ipc, pid and net namespaces on the same
busybox root (nsscope's cache) and tear everything down again:

- nsscope: `nsscope run --rm --busybox -- true` (plus a cgroup namespace and
  /nsscope/<id> in every hierarchy, an overlay upper layer, /proc, /dev, /sys,
  masked paths, pivot_root; interpreter start-ups included: the CLI and the
  helper);
- runc: `runc create` + `runc start` + wait + `runc delete` of a bundle whose
  root is that directory (runc's own spec, with cgroupsPath
  /nsscope-bench-run/runc and a cgroup namespace: the same namespace set);
- unshare: `unshare -fmuipn --mount-proc true` (no root change, no cgroup):
  the floor of the kernel work.

The three run round-robin, RUNS times each (env BENCH_RUN_RUNS, default 30);
medians of wall-clock time and of CPU time (user + sys of the whole process
tree: steadier than wall-clock on a loaded machine) and the ratios to runc are
printed. The issue's goal
is "faster than runc"; youki's README measures runc 225 ms, youki 112 ms,
crun 47 ms on its machine. Last, the floor of nsscope's two interpreter
start-ups (`python -I -S -c pass`, as the helper starts). The package is
byte-compiled first, as an installed one is.
"""

from __future__ import annotations

import compileall
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

RUNS = int(os.environ.get("BENCH_RUN_RUNS", "30"))
#: runc's cgroup parent (runc delete removes the child; we remove this one)
CGROUP = "/nsscope-bench-run"
PY = sys.executable
NSSCOPE = str(Path(PY).with_name("nsscope"))


def _measure(fn) -> tuple[float, float]:
    """(wall-clock, CPU time of the whole process tree: user + sys of every reaped
    descendant, RUSAGE_CHILDREN) in seconds. CPU time hardly depends on the load
    of this shared 2-core machine; wall-clock does."""
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    fn()
    wall = time.perf_counter() - t
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)


def _run(argv: list[str]) -> None:
    subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, check=True)


def _bundle(tmp: str, rootfs: str) -> str:
    bundle = os.path.join(tmp, "bundle")
    os.mkdir(bundle)
    subprocess.run(["runc", "spec"], cwd=bundle, check=True)
    with open(os.path.join(bundle, "config.json")) as f:
        config = json.load(f)
    config["root"] = {"path": rootfs, "readonly": True}
    config["process"]["args"] = ["true"]
    config["process"]["terminal"] = False
    if {"type": "cgroup"} not in config["linux"]["namespaces"]:
        config["linux"]["namespaces"].append({"type": "cgroup"})
    config["linux"]["cgroupsPath"] = f"{CGROUP}/runc"
    with open(os.path.join(bundle, "config.json"), "w") as f:
        json.dump(config, f)
    return bundle


def _runc_cycle(bundle: str) -> None:
    cid = f"nsscope-bench-{uuid.uuid4().hex[:8]}"
    _run(["runc", "create", "--bundle", bundle, cid])
    _run(["runc", "start", cid])
    # runc start returns at exec; wait for `true` to end before delete
    while json.loads(subprocess.run(["runc", "state", cid], capture_output=True,
                                    text=True, check=True).stdout)["status"] != "stopped":
        time.sleep(0.001)
    _run(["runc", "delete", cid])


def main() -> None:
    if os.geteuid() != 0:
        print("bench_run: needs root (skipped)")
        return
    missing = [t for t in ("runc", "unshare", "busybox") if shutil.which(t) is None]
    if missing:
        print(f"bench_run: needs {', '.join(missing)} (skipped)")
        return
    import nsscope
    from nsscope.runtime.rootfs import busybox_rootfs
    # byte-compiled as an install would be (PYTHONDONTWRITEBYTECODE may be set here)
    compileall.compile_dir(os.path.dirname(nsscope.__file__), quiet=1)
    rootfs = busybox_rootfs()
    tmp = tempfile.mkdtemp(prefix="nsscope-bench-")
    try:
        bundle = _bundle(tmp, rootfs)
        subjects = {
            "nsscope run --rm --busybox -- true":
                lambda: _run([NSSCOPE, "run", "--rm", "--busybox", "--", "true"]),
            "runc create+start+delete": lambda: _runc_cycle(bundle),
            "unshare -fmuipn --mount-proc true":
                lambda: _run(["unshare", "-fmuipn", "--mount-proc", "true"]),
            "floor: 2 x python -I -S -c pass":
                lambda: (_run([PY, "-I", "-S", "-c", "pass"]),
                         _run([PY, "-I", "-S", "-c", "pass"])),
        }
        times: dict[str, list[float]] = {k: [] for k in subjects}
        cpu: dict[str, list[float]] = {k: [] for k in subjects}
        for fn in subjects.values():  # warm-up (the busybox cache, page cache)
            fn()
        for _ in range(RUNS):
            for name, fn in subjects.items():
                wall, used = _measure(fn)
                times[name].append(wall)
                cpu[name].append(used)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        for d in Path("/sys/fs/cgroup").glob(f"*{CGROUP}"):
            d.rmdir()
    runc = "runc create+start+delete"
    runc_wall, runc_cpu = statistics.median(times[runc]), statistics.median(cpu[runc])
    print(f"container start+teardown of `true`, busybox root, median of {RUNS} (ms); "
          f"load average {os.getloadavg()[0]:.1f}")
    print(f"{'':36} {'wall':>7} {'min':>7} {'vs runc':>8} {'CPU':>7} {'vs runc':>8}")
    for name in subjects:
        wall, used = statistics.median(times[name]), statistics.median(cpu[name])
        print(f"{name:36} {wall * 1e3:7.1f} {min(times[name]) * 1e3:7.1f} "
              f"{wall / runc_wall:7.2f}x {used * 1e3:7.1f} {used / runc_cpu:7.2f}x")


if __name__ == "__main__":
    main()

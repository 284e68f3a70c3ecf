"""`nsscope run --rm --busybox -- true` vs `runc run` and `crun run` of the same root.

Every subject starts `true` in new mnt, uts, ipc, pid and net namespaces on the
same busybox root (nsscope's cache) and tears everything down again:

- nsscope: `nsscope run --rm --busybox -- true`, the console script users run
  (plus a cgroup namespace, /nsscope/<id> in 6 hierarchies with runc's device
  rules, an overlay upper layer, /proc, /dev, /sys, masked paths, pivot_root,
  docker's capabilities and no_new_privs);
- runc: `runc run` of a bundle whose root is that directory: create, start,
  wait and delete in one process (runc's own spec with docker's capabilities,
  cgroupsPath /nsscope-bench-run/runc and a cgroup namespace: the same work);
  and the same as four commands, `runc create` + `start` + `state` until
  stopped + `delete`; and `runc run` with docker's default seccomp profile in
  the bundle (as docker hands it to runc), which nsscope loads too;
- crun: `crun run` of that bundle, if crun is installed (on a hybrid host with
  a hugetlb-only unified hierarchy, inside `unshare -m` with that mount hidden:
  RUNTIMES.md);
- unshare: `unshare -fmuipn --mount-proc true` (no root change, no cgroup):
  the floor of the kernel work;
- floors of nsscope itself: the interpreter bare (`python -I -S -c pass`),
  with site (`python -c pass`: the console script cannot skip site, which in
  an editable install includes its import hook), and the CLI parsing `run` and
  importing everything a run imports, without running.

Subjects run round-robin, RUNS times each (env BENCH_RUN_RUNS, default 30);
medians of wall-clock time and of CPU time (user + sys of the whole process
tree: steadier than wall-clock on a loaded machine), with ratios to `runc run`.
The issue's goal is "faster than runc"; youki's README measures runc 225 ms,
youki 112 ms, crun 47 ms on its machine.

BENCH_RUN_NSSCOPE=PATH times another nsscope executable (e.g. one installed
from a wheel, without the editable hook); BENCH_RUN_BASELINE=DIR[:DIR…] adds a
row for the nsscope package found in each DIR (other checkouts: before/after a
change, all timed the same way, `python -c` with DIR first on sys.path).
The package is byte-compiled first, as an installed one is.
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

import checkout

RUNS = int(os.environ.get("BENCH_RUN_RUNS", "30"))
#: runc's and crun's cgroup parent (their delete removes the child; we remove this one)
CGROUP = "/nsscope-bench-run"
NSSCOPE = os.environ.get("BENCH_RUN_NSSCOPE") or str(Path(sys.executable).with_name("nsscope"))


def _interpreter(script: str) -> str:
    """The python a console script runs with (its #! line): the floors use it."""
    with open(script, "rb") as f:
        first = f.readline()
    return first[2:].decode().strip() if first.startswith(b"#!") else sys.executable


PY = _interpreter(NSSCOPE)
#: docker's default capability set, as nsscope run keeps it
DOCKER_CAPS = ["CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD",
               "CAP_NET_RAW", "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP",
               "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE"]
RUNC = "runc run"


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


def _run(argv: list[str], **kw) -> None:
    subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, check=True, **kw)


def _bundle(tmp: str, rootfs: str, runtime: str, seccomp: dict | None = None) -> str:
    bundle = os.path.join(tmp, f"bundle-{runtime}{'-seccomp' if seccomp else ''}")
    os.mkdir(bundle)
    subprocess.run(["runc", "spec"], cwd=bundle, check=True)
    with open(os.path.join(bundle, "config.json")) as f:
        config = json.load(f)
    config["root"] = {"path": rootfs, "readonly": True}
    config["process"]["args"] = ["true"]
    config["process"]["terminal"] = False
    # `runc spec` keeps 3 capabilities; nsscope keeps docker's 14, so do they here
    config["process"]["capabilities"] = {k: DOCKER_CAPS for k in
                                         ("bounding", "effective", "permitted")}
    if {"type": "cgroup"} not in config["linux"]["namespaces"]:
        config["linux"]["namespaces"].append({"type": "cgroup"})
    config["linux"]["cgroupsPath"] = f"{CGROUP}/{runtime}"
    if seccomp:
        config["linux"]["seccomp"] = seccomp
    with open(os.path.join(bundle, "config.json"), "w") as f:
        json.dump(config, f)
    return bundle


#: OCI's names of the ABIs (runtime-spec config-linux.md, seccomp architectures)
_OCI_ARCH = {"x86_64": "SCMP_ARCH_X86_64", "x32": "SCMP_ARCH_X32", "i386": "SCMP_ARCH_X86",
             "aarch64": "SCMP_ARCH_AARCH64", "arm": "SCMP_ARCH_ARM"}


def _docker_seccomp() -> dict:
    """docker's default profile for docker's capabilities, as docker hands it to runc
    (the rules moby's setupSeccomp keeps: nsscope's seccomp_profile.selected)."""
    from nsscope.actions.run.seccomp_profile import selected
    from nsscope.kernel.syscall_numbers import ABIS
    uname = os.uname()
    syscalls = []
    for names, action, errno_ret, args, _, _ in selected(DOCKER_CAPS, uname.machine,
                                                         uname.release):
        rule: dict = {"names": list(names), "action": f"SCMP_ACT_{action}"}
        if action == "ERRNO":
            rule["errnoRet"] = errno_ret
        if args:
            rule["args"] = [{"index": i, "value": v, "valueTwo": v2, "op": f"SCMP_CMP_{op}"}
                            for i, op, v, v2 in args]
        syscalls.append(rule)
    return {"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 1,
            "architectures": [_OCI_ARCH[abi] for abi in ABIS[uname.machine]],
            "syscalls": syscalls}


def _runc_cycle(bundle: str) -> None:
    cid = f"nsscope-bench-{uuid.uuid4().hex[:8]}"
    _run(["runc", "create", "--bundle", bundle, cid])
    _run(["runc", "start", cid])
    # runc start returns at exec; wait for `true` to end before delete
    while json.loads(subprocess.run(["runc", "state", cid], capture_output=True,
                                    text=True, check=True).stdout)["status"] != "stopped":
        time.sleep(0.001)
    _run(["runc", "delete", cid])


def _crun_argv(bundle: str) -> list[str]:
    cid = f"nsscope-bench-{uuid.uuid4().hex[:8]}"
    run = f"crun run --bundle {bundle} {cid}"
    if os.path.ismount("/sys/fs/cgroup/unified"):
        # crun refuses a hybrid host whose unified hierarchy holds only hugetlb;
        # hide it in a private mount namespace (RUNTIMES.md), the host is untouched
        return ["unshare", "-m", "--propagation", "private", "sh", "-c",
                f"umount /sys/fs/cgroup/unified && exec {run}"]
    return run.split()


def main() -> None:
    if os.geteuid() != 0:
        print("bench_run: needs root (skipped)")
        return
    missing = [t for t in ("runc", "unshare", "busybox") if shutil.which(t) is None]
    if missing:
        print(f"bench_run: needs {', '.join(missing)} (skipped)")
        return
    import nsscope
    from nsscope.actions.run.rootfs import busybox_rootfs
    # byte-compiled as an install would be (PYTHONDONTWRITEBYTECODE may be set here)
    compileall.compile_dir(os.path.dirname(nsscope.__file__), quiet=1)
    rootfs = busybox_rootfs()
    run_true = ["run", "--rm", "--busybox", "--", "true"]
    tmp = tempfile.mkdtemp(prefix="nsscope-bench-")
    try:
        runc_bundle = _bundle(tmp, rootfs, "runc")
        subjects = {
            "nsscope run --rm --busybox -- true": lambda: _run([NSSCOPE, *run_true]),
        }
        for baseline in filter(None, os.environ.get("BENCH_RUN_BASELINE", "").split(
                os.pathsep)):
            subjects[f"nsscope from {baseline}"[:36]] = \
                lambda argv=checkout.cli(baseline): _run([*argv, *run_true])
        subjects[RUNC] = lambda: _run(["runc", "run", "--bundle", runc_bundle,
                                       f"nsscope-bench-{uuid.uuid4().hex[:8]}"])
        # nsscope loads docker's default seccomp profile: runc given the same
        seccomp_bundle = _bundle(tmp, rootfs, "runc", _docker_seccomp())
        subjects["runc run, docker's seccomp profile"] = lambda: _run([
            "runc", "run", "--bundle", seccomp_bundle, f"nsscope-bench-{uuid.uuid4().hex[:8]}"])
        subjects["runc create+start+state+delete"] = lambda: _runc_cycle(runc_bundle)
        if shutil.which("crun"):
            crun_bundle = _bundle(tmp, rootfs, "crun")
            subjects["crun run"] = lambda: _run(_crun_argv(crun_bundle))
        subjects["unshare -fmuipn --mount-proc true"] = \
            lambda: _run(["unshare", "-fmuipn", "--mount-proc", "true"])
        subjects["floor: python -I -S -c pass"] = lambda: _run([PY, "-I", "-S", "-c", "pass"])
        subjects["floor: python -c pass (with site)"] = lambda: _run([PY, "-c", "pass"])
        subjects["floor: CLI parses run, imports"] = lambda: _run([PY, "-c", (
            "import os, sys; import nsscope.cli; from nsscope.cli import run; "
            "assert run.parse_fast(sys.argv[2:]); os._exit(0)"), *run_true])
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
            for child in d.iterdir():
                if child.is_dir():
                    child.rmdir()  # crun may leave its (empty) cgroup in a hidden hierarchy
            d.rmdir()
    runc_wall, runc_cpu = statistics.median(times[RUNC]), statistics.median(cpu[RUNC])
    print(f"container start+teardown of `true`, busybox root, median of {RUNS} (ms); "
          f"load average {os.getloadavg()[0]:.1f}; nsscope: {NSSCOPE}")
    print(f"{'':36} {'wall':>7} {'min':>7} {'vs runc':>8} {'CPU':>7} {'vs runc':>8}")
    for name in subjects:
        wall, used = statistics.median(times[name]), statistics.median(cpu[name])
        print(f"{name:36} {wall * 1e3:7.1f} {min(times[name]) * 1e3:7.1f} "
              f"{wall / runc_wall:7.2f}x {used * 1e3:7.1f} {used / runc_cpu:7.2f}x")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Capture a real cgroup-v2 /sys/fs/cgroup + /proc subset as a test fixture.

    vm/capture-fixture.py [DEST]      (on the host, as root; DEST defaults to
                                       tests/fixtures/cgroup-v2-vm-full)

On the host it boots the v2 VM (vm/run.sh) running itself with ``--inside``,
then puts the captured tree at DEST. Inside the VM (Debian kernel,
cgroup_no_v1=all) it builds a scene of cgroups laid out the way docker,
kubelet (systemd driver) and a user session lay them out, with real limits and
real processes, lets them run a few seconds so usage, throttling and PSI are
real readings, and copies every readable file of /sys/fs/cgroup and, for the
scene's processes, the /proc files nsscope reads (ns/* as symlinks holding the
link text).

PIDs are pinned (through /proc/sys/kernel/ns_last_pid, see pid_namespaces(7))
so that a re-capture keeps the pids the unit tests name: 1000 is the capturing
process, 1001-1008 the scene's (above the few hundred a fresh VM uses, so its
own processes never hold them). The container ids and pod uids are fixed too.
Standard library only.
"""

from __future__ import annotations

import argparse
import ctypes
import os
import shutil
import signal
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_DEST = os.path.join(REPO, "tests", "fixtures", "cgroup-v2-vm-full")
CG = "/sys/fs/cgroup"

CAPTURER_PID = 1000
DOCKER_ID = "4f1c2a9e8b7d6c5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e"
BURSTABLE_POD = "1b2c3d4e_5f6a_7b8c_9d0e_1f2a3b4c5d6e"
BURSTABLE_CID = "9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e0f9a8b"
BESTEFFORT_POD = "2c3d4e5f_6a7b_8c9d_0e1f_2a3b4c5d6e7f"
BESTEFFORT_CID = "8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e0f9a8b7c"
GUARANTEED_POD = "3d4e5f6a_7b8c_9d0e_1f2a_3b4c5d6e7f8a"
GUARANTEED_CID = "7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e0f9a8b7c6d"

DOCKER = f"/system.slice/docker-{DOCKER_ID}.scope"
KUBEPODS = "/kubepods.slice"
BURSTABLE = f"{KUBEPODS}/kubepods-burstable.slice/kubepods-burstable-pod{BURSTABLE_POD}.slice"
BESTEFFORT = f"{KUBEPODS}/kubepods-besteffort.slice/kubepods-besteffort-pod{BESTEFFORT_POD}.slice"
GUARANTEED = f"{KUBEPODS}/kubepods-pod{GUARANTEED_POD}.slice"

#: cgroup -> files to write, parents before children. Limits as docker and
#: kubelet set them: cpu.max "$QUOTA $PERIOD", memory.max and pids.max in
#: bytes/tasks; BestEffort pods get the minimum cpu.weight (kubelet's
#: MinShares=2 converted to weight 1).
SCENE: list[tuple[str, dict[str, str]]] = [
    ("/system.slice", {"cgroup.subtree_control": "+cpu +memory +pids +io"}),
    (DOCKER, {"cpu.max": "20000 100000", "memory.max": str(64 << 20), "pids.max": "100"}),
    (KUBEPODS, {"cgroup.subtree_control": "+cpu +memory +pids"}),
    (f"{KUBEPODS}/kubepods-burstable.slice", {"cgroup.subtree_control": "+cpu +memory +pids"}),
    (BURSTABLE, {"cgroup.subtree_control": "+cpu +memory +pids", "cpu.max": "50000 100000"}),
    (f"{BURSTABLE}/cri-containerd-{BURSTABLE_CID}.scope", {"memory.max": str(128 << 20)}),
    (f"{KUBEPODS}/kubepods-besteffort.slice",
     {"cgroup.subtree_control": "+cpu +memory +pids", "cpu.weight": "1"}),
    (BESTEFFORT, {"cgroup.subtree_control": "+cpu +memory +pids", "cpu.weight": "1"}),
    (f"{BESTEFFORT}/cri-containerd-{BESTEFFORT_CID}.scope", {"cpu.weight": "1"}),
    (GUARANTEED, {"cgroup.subtree_control": "+cpu +memory +pids", "cpu.max": "25000 100000",
                  "memory.max": str(96 << 20)}),
    (f"{GUARANTEED}/cri-containerd-{GUARANTEED_CID}.scope",
     {"cpu.max": "25000 100000", "memory.max": str(96 << 20), "pids.max": "1024"}),
    ("/user.slice", {}),
]

#: (pid, cgroup, what it runs). "busy" spins, "idle" sleeps, "sandbox" does
#: what `unshare --pid --uts --fork` does (unshare(2), then fork) and waits
#: for its child, pid 1 of the new pid namespace, which sleeps.
PROCS: list[tuple[int, str, str]] = [
    (1001, DOCKER, "busy"),
    (1002, DOCKER, "idle"),
    (1003, f"{BURSTABLE}/cri-containerd-{BURSTABLE_CID}.scope", "busy"),
    (1004, "/user.slice", "idle"),
    (1005, f"{BESTEFFORT}/cri-containerd-{BESTEFFORT_CID}.scope", "idle"),
    (1006, f"{GUARANTEED}/cri-containerd-{GUARANTEED_CID}.scope", "busy"),
    (1007, "/user.slice", "sandbox"),
]
SANDBOX_CHILD = 1008
#: where the pid cursor is left between pinnings (see inside())
PID_PARKING = 2000
SANDBOX_HOSTNAME = "sandbox"
SETTLE_SECONDS = 4.0

PROC_FILES = ("cgroup", "cmdline", "comm", "environ", "mountinfo", "stat", "status")
PROC_TOP = ("cgroups", "filesystems", "mounts", "stat", "uptime", "loadavg", "meminfo",
            "pressure/cpu", "pressure/memory", "pressure/io")


def write(path: str, value: str) -> None:
    # one write(2) on an fd: the kernel's EINVAL/EBUSY surfaces here, not at close
    fd = os.open(path, os.O_WRONLY)
    try:
        os.write(fd, value.encode())
    finally:
        os.close(fd)


def read_bytes(path: str) -> bytes:
    fd = os.open(path, os.O_RDONLY)
    try:
        chunks = []
        while chunk := os.read(fd, 1 << 16):
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


# --- inside the VM: the scene ---------------------------------------------------------

#: exit status of the VM side when a kernel thread took a pinned pid: the host
#: side boots a fresh VM and tries again (EX_TEMPFAIL, sysexits.h)
EX_TEMPFAIL = 75
ATTEMPTS = 5

#: include/uapi/linux/sched.h
CLONE_NEWUTS = 0x04000000
CLONE_NEWPID = 0x20000000


class PidTaken(Exception):
    """A pid the scene pins was taken by someone else (a new kernel thread)."""


def fork_pinned(pid: int) -> int:
    """fork() so that the child gets ``pid``: 0 in the child, the pid in the parent.

    Writing N-1 to ns_last_pid makes the next fork in the writer's pid
    namespace take N if it is free (pid_namespaces(7)). A kernel thread
    starting in between would take it: then raise PidTaken rather than mislabel.
    (After unshare(CLONE_NEWPID) the child is 1 in its namespace and ``pid``
    in ours: the parent's check covers both.)
    """
    write("/proc/sys/kernel/ns_last_pid", str(pid - 1))
    child = os.fork()
    if child == 0:
        return 0
    if child != pid:
        os.kill(child, signal.SIGKILL)
        os.waitpid(child, 0)
        try:
            holder = read_bytes(f"/proc/{pid}/comm").decode().strip()
        except OSError:
            holder = "?"
        raise PidTaken(f"wanted pid {pid} (now {holder!r}), got {child}")
    return child


#: loaded before any fork: the sandbox's unshare(2)-then-fork window stays short
LIBC = ctypes.CDLL(None, use_errno=True)


def libc_unshare(flags: int) -> None:
    if LIBC.unshare(flags) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))


def run_child(what: str, start: tuple[int, int], ready: int) -> None:
    """The body of a forked scene process; never returns.

    It waits for EOF on the ``start`` pipe before doing anything: the parent
    forks every pinned pid back to back first (tasks spinning, joining
    cgroups or exec'ing make the kernel start worker threads, which take
    pids), then moves them into their cgroups, then closes the pipe.
    """
    try:
        os.close(start[1])
        if what == "sandbox":
            libc_unshare(CLONE_NEWPID | CLONE_NEWUTS)
            # the pid namespace applies to children; their pid here is pinned as usual
            if fork_pinned(SANDBOX_CHILD) == 0:
                os.close(ready)
                os.read(start[0], 1)
                write("/proc/sys/kernel/hostname", SANDBOX_HOSTNAME)  # this uts ns's (proc(5))
                os.execvp("sleep", ["sleep", "100000"])
            os.write(ready, b"+")
            os.close(ready)
            os.waitpid(SANDBOX_CHILD, 0)
            os._exit(0)
        os.close(ready)
        os.read(start[0], 1)
        if what == "busy":
            while True:
                pass
        while True:
            signal.pause()
    except BaseException as e:  # a forked child must never return into main()
        print(f"capture: scene process {os.getpid()}: {e}", file=sys.stderr)
    finally:
        os._exit(1)


def build_scene(pids: list[int]) -> None:
    """Make the processes, then the cgroups; ``pids`` collects the processes as they start."""
    have = set(read_bytes(f"{CG}/cgroup.controllers").decode().split())
    want = {"cpu", "memory", "pids", "io"}
    if not want <= have:
        sys.exit(f"capture: controllers {sorted(want - have)} missing: not a v2 host?")
    start = os.pipe()
    ready_r, ready_w = os.pipe()
    for pid, _, what in PROCS:
        if fork_pinned(pid) == 0:
            run_child(what, start, ready_w)
        pids.append(pid)
    os.close(ready_w)
    if os.read(ready_r, 1) != b"+":
        raise PidTaken(f"the sandbox did not get pid {SANDBOX_CHILD} for its child")
    os.close(ready_r)
    pids.append(SANDBOX_CHILD)

    write(f"{CG}/cgroup.subtree_control", "+cpu +memory +pids +io")
    for cgroup, files in SCENE:
        os.mkdir(CG + cgroup)
        for name, value in files.items():
            write(f"{CG}{cgroup}/{name}", value)
    for pid, cgroup, what in PROCS:
        write(f"{CG}{cgroup}/cgroup.procs", str(pid))
        if what == "sandbox":
            write(f"{CG}{cgroup}/cgroup.procs", str(SANDBOX_CHILD))
    write("/proc/sys/kernel/ns_last_pid", str(PID_PARKING))
    os.close(start[1])  # EOF: everyone starts
    os.close(start[0])
    for _ in range(600):
        if read_bytes(f"/proc/{SANDBOX_CHILD}/comm") == b"sleep\n":
            break
        time.sleep(0.1)
    else:
        sys.exit("capture: the sandbox's sleep did not start")


def tear_down(pids: list[int]) -> None:
    for pid in reversed(pids):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    for pid in pids:
        try:
            os.waitpid(pid, 0)
        except ChildProcessError:
            pass  # the sandbox's pid 1 is unshare's child, not ours
    for cgroup, _ in reversed(SCENE):
        for _ in range(100):  # a killed task leaves its cgroup a moment later
            try:
                os.rmdir(CG + cgroup)
                break
            except OSError:
                time.sleep(0.05)


# --- inside the VM: the copy ----------------------------------------------------------
#
# Everything is read into memory first, then written to the (slow, 9p) share,
# so the readings are close together in time; cgroups are read deepest first,
# so a parent's cumulative figures (usage_usec, nr_throttled of its subtree)
# are never behind the sum of its children's.

def read_cgroups() -> dict[str, bytes]:
    """{path under sys/fs/cgroup: content} of every readable file."""
    dirs = [d for d, _, _ in os.walk(CG)]
    dirs.sort(key=lambda d: (-d.count("/"), d))
    out: dict[str, bytes] = {}
    for d in dirs:
        rel = os.path.relpath(d, CG)
        out[os.path.join(rel, "")] = b""  # the directory itself, even when it is empty
        for name in sorted(e.name for e in os.scandir(d) if e.is_file()):
            try:
                out[os.path.join(rel, name)] = read_bytes(os.path.join(d, name))
            except OSError:
                pass  # write-only (cgroup.kill, memory.reclaim: EACCES) or EOPNOTSUPP
    return out


def read_proc(pids: list[int]) -> tuple[dict[str, bytes], dict[str, str]]:
    """({path under proc: content}, {path under proc: ns symlink text})."""
    files = {rel: read_bytes(f"/proc/{rel}") for rel in PROC_TOP}
    links = {}
    for pid in pids:
        for name in PROC_FILES:
            files[f"{pid}/{name}"] = read_bytes(f"/proc/{pid}/{name}")
        for link in os.listdir(f"/proc/{pid}/ns"):
            links[f"{pid}/ns/{link}"] = os.readlink(f"/proc/{pid}/ns/{link}")
    files["self/mountinfo"] = read_bytes("/proc/self/mountinfo")
    return files, links


def write_tree(base: str, files: dict[str, bytes], links: dict[str, str]) -> None:
    for rel, data in sorted(files.items()):
        path = os.path.join(base, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        if not rel.endswith("/"):
            with open(path, "wb") as f:
                f.write(data)
    for rel, target in sorted(links.items()):
        path = os.path.join(base, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        os.symlink(target, path)


README = """\
Captured inside a qemu VM booted with cgroup_no_v1=all (Debian kernel {kernel}) by
vm/capture-fixture.py (re-run it on the host as root to refresh this tree; it boots
the VM through vm/run.sh). Every value is a real reading of that kernel.

Scene (limits written the way docker and kubelet's systemd driver write them):
- {docker}: cpu.max 20000 100000, memory.max 64M, pids.max 100;
  pid 1001 busy (throttled), pid 1002 idle.
- {burstable} (cpu.max 50000 100000)
  /cri-containerd-<id>.scope (memory.max 128M): pid 1003 busy.
- {besteffort} (cpu.weight 1)
  /cri-containerd-<id>.scope: pid 1005 idle.
- {guaranteed} (cpu.max 25000 100000, memory.max 96M)
  /cri-containerd-<id>.scope (same limits, pids.max 1024): pid 1006 busy.
- /user.slice: pid 1004 idle; pid 1007 did what `unshare --pid --uts --fork` does
  (unshare(2), then fork) and waits for its child pid 1008 (`sleep`, pid 1 and
  hostname "{hostname}" in a new pid+uts namespace; 1007 itself is in the new uts
  namespace and its pid_for_children is the new pid namespace).
- pid 1 (the VM's init, vm/init) and pid 1000 (the capturing python3) in the root cgroup.
  1001-1007 are forks of 1000 (same cmdline, comm python3).

/proc holds only those processes (cgroup cmdline comm environ mountinfo stat status,
ns/* as symlinks to the real link text), /proc/self/mountinfo (pid 1000's), and
{top}. /sys/fs/cgroup holds every readable file of every cgroup (the root's
cgroup.procs also lists kernel threads and the VM's job shell, which are not in /proc).
The scene ran {settle} s before the copy.
"""


def inside(dest: str) -> int:
    if os.getpid() != CAPTURER_PID:
        # re-run ourselves as pid 1000 with a clean environment (the fixture's environ)
        write("/proc/sys/kernel/ns_last_pid", str(CAPTURER_PID - 1))
        env = {"HOME": "/root", "PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "TERM": "linux"}
        child = subprocess.Popen([sys.executable, os.path.abspath(__file__), "--inside", dest],
                                 env=env)
        # its python start-up reads files over 9p, which starts kernel worker
        # threads: let them take pids far from the ones the scene pins next
        write("/proc/sys/kernel/ns_last_pid", str(PID_PARKING))
        if child.pid != CAPTURER_PID:
            child.kill()
            child.wait()
            print(f"capture: wanted pid {CAPTURER_PID}, got {child.pid}", file=sys.stderr)
            return EX_TEMPFAIL
        return child.wait()
    if os.path.lexists(dest):
        shutil.rmtree(dest)
    pids: list[int] = []
    try:
        build_scene(pids)
        time.sleep(SETTLE_SECONDS)
        cgroup_files = read_cgroups()
        proc_files, ns_links = read_proc([1, CAPTURER_PID, *pids])
        write_tree(os.path.join(dest, "sys/fs/cgroup"), cgroup_files, {})
        write_tree(os.path.join(dest, "proc"), proc_files, ns_links)
        n = sum(1 for rel in cgroup_files if not rel.endswith("/"))
    except PidTaken as e:
        print(f"capture: {e} (a kernel thread?)", file=sys.stderr)
        return EX_TEMPFAIL
    finally:
        tear_down(pids)
    with open(os.path.join(dest, "README"), "w") as f:
        f.write(README.format(kernel=os.uname().release, docker=DOCKER, burstable=BURSTABLE,
                              besteffort=BESTEFFORT, guaranteed=GUARANTEED,
                              hostname=SANDBOX_HOSTNAME, top=", ".join(PROC_TOP),
                              settle=SETTLE_SECONDS))
    print(f"capture: {n} cgroup files, /proc of pids {[1, CAPTURER_PID, *pids]} -> {dest}")
    return 0


# --- on the host ----------------------------------------------------------------------

def on_host(dest: str) -> int:
    # .venv/bin/python3, so the capturing process's comm is "python3"
    python = os.path.join(REPO, ".venv", "bin", "python3")
    results = os.path.join(REPO, ".vm", "capture")
    for attempt in range(1, ATTEMPTS + 1):
        rc = subprocess.call([os.path.join(REPO, "vm", "run.sh"), python,
                              "vm/capture-fixture.py", "--inside", "/run/vm-results/fixture"],
                             env={**os.environ, "NSSCOPE_VM_RESULTS": results})
        if rc != EX_TEMPFAIL:
            break
        print(f"capture: a pinned pid was taken (attempt {attempt}/{ATTEMPTS})", file=sys.stderr)
    captured = os.path.join(results, "fixture")
    if rc != 0 or not os.path.isdir(captured):
        print(f"capture: the VM run failed (status {rc}); nothing replaced", file=sys.stderr)
        return rc or 1
    tmp = dest + ".new"
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(captured, tmp, symlinks=True)
    shutil.rmtree(dest, ignore_errors=True)
    os.rename(tmp, dest)
    print(f"capture: {dest} replaced")
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dest", nargs="?", default=DEFAULT_DEST)
    ap.add_argument("--inside", action="store_true", help="(the VM side)")
    args = ap.parse_args()
    if args.inside:
        if not os.environ.get("NSSCOPE_IN_V2_VM") and os.getpid() != CAPTURER_PID:
            print("capture: --inside runs in the v2 VM only", file=sys.stderr)
            return 2
        return inside(args.dest)
    return on_host(os.path.abspath(args.dest))


if __name__ == "__main__":
    sys.exit(main())

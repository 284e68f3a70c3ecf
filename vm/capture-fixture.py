#!/usr/bin/env python3
"""Capture a real cgroup-v2 /sys/fs/cgroup + /proc subset as a test fixture.

    vm/capture-fixture.py [DEST]                (on the host, as root; DEST defaults to
                                                 tests/fixtures/cgroup-v2-vm-full)
    vm/capture-fixture.py --scene host [DEST]   (DEST defaults to tests/fixtures/scene-v2)

On the host it boots the v2 VM (vm/run.sh) running itself with ``--inside``,
then puts the captured tree at DEST. Inside the VM (Debian kernel,
cgroup_no_v1=all) it builds a scene, lets it run so usage, throttling and
PSI are real readings, and copies every readable file of /sys/fs/cgroup and,
for the scene's processes, the /proc files nsscope reads (ns/* as symlinks
holding the link text).

Two scenes:

``readers`` (the default; tests/fixtures/cgroup-v2-vm-full): cgroups laid out
the way docker, kubelet (systemd driver) and a user session lay them out, with
real limits and forked processes, for the readers' unit tests. PIDs are pinned
(through /proc/sys/kernel/ns_last_pid, see pid_namespaces(7)) so that a
re-capture keeps the pids the unit tests name: 1000 is the capturing
process, 1001-1008 the scene's (above the few hundred a fresh VM uses, so its
own processes never hold them). The container ids and pod uids are fixed too.

``host`` (tests/fixtures/scene-v2, for `make screenshots`): a host as users
meet one, made with the real runtimes: containerd with its runc shims,
docker-style and Kubernetes containers from real images in their own
namespaces, a bubblewrap sandbox (vm/hostscene/ says how each part is made
and what is not the real daemon's doing). The images are built on the host
first (vm/hostscene/images.py, cached in .vm/hostscene). The capture also
copies the runtimes' state files nsscope reads (under the fixture's prefix:
var/lib/docker, run/containerd, var/log/pods, ...), every process but the
capturing ones (pid 1 and kernel threads included), and a
first reading of every cgroup's cpu.stat 10 s earlier (before/), from which
nsscope.tui.dev.scenario takes each cgroup's CPU demand.
Standard library only.
"""

from __future__ import annotations

import argparse
import ctypes
import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_DEST = {"readers": os.path.join(REPO, "tests", "fixtures", "cgroup-v2-vm-full"),
                "host": os.path.join(REPO, "tests", "fixtures", "scene-v2")}
CG = "/sys/fs/cgroup"
#: the host side's build of the host scene's images (read by the VM over 9p)
IMAGES = os.path.join(REPO, ".vm", "hostscene")

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


# --- inside the VM: the host scene ------------------------------------------------------

#: the VM harness's mounts: vm/run.sh's results share and the stage-2 init bound
#: over /sbin/init (vm/init). Detached before the capture, so no mount table in
#: the fixture shows them. Lazily (umount -l): pid 1 and the job's shell keep
#: their scripts open, and the capture keeps a directory fd on the share to
#: write the fixture through. The share cannot be mounted again meanwhile (a
#: virtio 9p channel takes one mount at a time), so the exit status vm/run.sh
#: reads back (rc) is written through that fd too; the job's own `echo $? >
#: /run/vm-results/rc` then lands in the emptied mount point.
RESULTS = "/run/vm-results"
HARNESS_MOUNTS = ("/sbin/init", RESULTS)
#: seconds the scene runs before the first reading, and between the two
FIRST_SETTLE = 20.0
WINDOW = 10.0
#: runtime state nsscope reads, copied under the fixture's prefix (StatePaths.under)
STATE_TREES = ("var/lib/docker/containers", "run/containerd/io.containerd.runtime.v2.task",
               "run/docker/runtime-runc", "run/containerd/runc", "var/log/pods",
               "var/log/containers", "var/lib/kubelet/pods",
               "var/lib/containerd/io.containerd.grpc.v1.cri/sandboxes", "run/netns",
               "run/docker/netns")
#: what must not appear anywhere in the fixture: this checkout's paths, the
#: capture tooling's names, the VM harness's share, temporary files, the spec
#: files handed to ctr (tests/unit/host/test_scene_fixture.py checks the same)
TOOLING = re.compile(re.escape(REPO.encode()) + rb"|capture|hostscene|vm-results|- 9p results"
                     rb"|/work/|/\.vm/|/tmp/|/var/tmp|/opt/demo|/dev/shm/spec-|nsscope"
                     rb"|(^|[\s\0=])/mnt($|[\s\0/])")


def mountpoints() -> set[str]:
    with open("/proc/self/mountinfo") as f:
        return {line.split()[4] for line in f}


def capturing_pids() -> set[int]:
    """This process, the VM job's shell that started it, and their children."""
    mine = {os.getpid(), os.getppid()}
    parents: dict[int, int] = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                parents[int(name)] = int(read_bytes(f"/proc/{name}/stat").rsplit(b")", 1)[1]
                                         .split()[1])
            except (OSError, ValueError, IndexError):
                continue
    grew = True
    while grew:
        grew = False
        for pid, ppid in parents.items():
            if ppid in mine and pid not in mine:
                mine.add(pid)
                grew = True
    return mine


def read_proc_host(skip: set[int]) -> tuple[dict[str, bytes], dict[str, str]]:
    """/proc of every process but ``skip`` (kernel threads too): a process that
    exits mid-read is left out whole."""
    files = {rel: read_bytes(f"/proc/{rel}") for rel in PROC_TOP}
    links: dict[str, str] = {}
    for name in sorted(os.listdir("/proc"), key=lambda n: (len(n), n)):
        if not name.isdigit() or int(name) in skip:
            continue
        f: dict[str, bytes] = {}
        ln: dict[str, str] = {}
        try:
            for item in PROC_FILES:
                f[f"{name}/{item}"] = read_bytes(f"/proc/{name}/{item}")
            # ns/* only: cwd and root would be links to / and to host directories,
            # which anything walking the checkout (pytest's collection, grep -R)
            # would follow into this host's own tree
            for link in os.listdir(f"/proc/{name}/ns"):
                ln[f"{name}/ns/{link}"] = os.readlink(f"/proc/{name}/ns/{link}")
        except (FileNotFoundError, ProcessLookupError):
            continue
        files.update(f)
        links.update(ln)
    files["self/mountinfo"] = read_bytes("/proc/self/mountinfo")
    return files, links


def read_state() -> tuple[dict[str, bytes], dict[str, str]]:
    """The runtimes' state files (STATE_TREES), relative to /. Bundles' rootfs
    mounts and shm tmpfs mounts are not descended into; nsfs pins (netns files)
    are kept empty."""
    files: dict[str, bytes] = {}
    links: dict[str, str] = {}
    for tree in STATE_TREES:
        top = "/" + tree
        for d, dirs, names in os.walk(top):
            rel = os.path.relpath(d, "/")
            files[os.path.join(rel, "")] = b""
            # not into a bundle's rootfs mount nor a container's /dev/shm tmpfs
            # (postgres keeps its shared memory segments there)
            dirs[:] = sorted(x for x in dirs
                             if not (x == "rootfs" and "runtime.v2.task" in d)
                             and not (x == "shm" and d.endswith("/mounts"))
                             and not os.path.islink(os.path.join(d, x)))
            for x in [x for x in os.listdir(d) if x == "shm" and d.endswith("/mounts")]:
                files[os.path.join(rel, x, "")] = b""
            for x in sorted(names) + sorted(y for y in os.listdir(d)
                                            if os.path.islink(os.path.join(d, y))
                                            and os.path.isdir(os.path.join(d, y))):
                path = os.path.join(d, x)
                if os.path.islink(path):
                    # links to files (/var/log/containers/*.log) are kept; links to
                    # directories (a bundle's work dir) are not: a walk of the
                    # checkout would follow them into this host's own directories
                    if not os.path.isdir(path):
                        links[os.path.join(rel, x)] = os.readlink(path)
                    continue
                st = os.stat(path)
                if not stat.S_ISREG(st.st_mode) or st.st_size > 1 << 20:
                    continue  # fifos, sockets, large logs
                try:
                    files[os.path.join(rel, x)] = read_bytes(path)
                except OSError:
                    files[os.path.join(rel, x)] = b""  # an nsfs pin: open(2) works, read(2) not
    return files, links


def read_cpu_stats() -> dict[str, bytes]:
    """cpu.stat of every cgroup and /proc/uptime: the first of the two readings."""
    out = {"proc/uptime": read_bytes("/proc/uptime")}
    for d, _, _ in os.walk(CG):
        rel = os.path.relpath(d, CG)
        out[os.path.join("sys/fs/cgroup", rel, "cpu.stat")] = read_bytes(f"{d}/cpu.stat")
    return out


def tooling_mentions(files: dict[str, bytes], links: dict[str, str]) -> list[str]:
    found = []
    for rel, data in list(files.items()) + [(k, v.encode()) for k, v in links.items()]:
        found.extend(f"{rel}: {m.group().decode(errors='replace')!r}"
                     for text in (rel.encode(), data) for m in TOOLING.finditer(text))
    return found


HOST_README = """\
A host as users meet one: real containers made with the real runtimes (containerd
{containerd_version}, its runc shim, runc), captured inside a qemu VM booted with
cgroup_no_v1=all (Debian kernel {kernel}) by `vm/capture-fixture.py --scene host`
(re-run it on the host as root to refresh this tree). Every value is a real reading
of that kernel and those runtimes; vm/hostscene/ says how each part was made.

{scene}
How it was made:
- the images, built on the host: a Debian bookworm tree (debootstrap) with
  nginx-light, postgresql-15, python3 and stress for the docker containers
  (docker's image names are the ones given below, the tree is the same for
  the three); registry.k8s.io/pause:3.6 (a static pause binary) and
  registry.example.com/shop/api:1.4.2 (Python 3.11 and app.py) as OCI images,
  imported into containerd;
- docker: no dockerd (its systemd cgroup driver needs systemd on D-Bus): the
  scene lays out what dockerd lays out (overlay2 layers and mounts,
  /var/lib/docker/containers/<id>/ with config.v2.json and hostconfig.json in
  moby's format, a netns pinned under /run/docker/netns) and has containerd
  run the spec dockerd builds, in its "moby" namespace, runc state under
  /run/docker/runtime-runc, cgroup system.slice/docker-<id>.scope. No
  seccomp/AppArmor profile, output to /dev/null (no json-file log);
- Kubernetes: no kubelet: the scene writes the kubelet's QoS and pod cgroups,
  pod directories and log paths, pins the pod's netns under /var/run/netns,
  and has containerd run the sandbox and the container from the images with
  the CRI plugin's annotations, in its "k8s.io" namespace (one shim for the
  pod). `ctr run` cannot put the hostname and oom_score_adj in the spec (they
  were written after start), nor a cgroup namespace for the app container;
  the pod log holds the raw output (no CRI line prefixes);
- the sandbox: bwrap, started detached from root's session scope.
The VM harness's mounts (the results share, the stage-2 init) were detached
before the copy; the capturing process and the VM job's shell are left out of
/proc (the root's cgroup.procs lists them; so do kernel threads that came and
went).

Contents:
- proc/: every other process, kernel threads included (cgroup cmdline comm
  environ mountinfo stat status; ns/* as symlinks holding the real link text;
  not cwd and root, links to / and host directories), self/mountinfo, and
  {top}. The uid of a process is in its status file (git keeps no file owners).
- sys/fs/cgroup/: every readable file of every cgroup.
- {state}: the runtimes' state, as on the host (nsscope reads it through
  StatePaths().under(<this directory>)); links to files kept, links to
  directories (bundles' work) and the contents of rootfs and shm mounts not.
  Empty directories are not kept by git.
- before/: /proc/uptime and every cgroup's cpu.stat {window:.0f} s before the rest,
  so a replay can take each cgroup's CPU demand from real readings.
The scene ran {settle:.0f} s before the first reading.
"""


def describe_scene() -> str:
    from hostscene import scene
    lines = ["Scene:"]
    for c in scene.DOCKER:
        limits = []
        if c.nano_cpus:
            limits.append(f"--cpus {c.nano_cpus / 1e9:g}")
        if c.memory:
            limits.append(f"--memory {c.memory >> 20}m")
        if c.pids_limit:
            limits.append(f"--pids-limit {c.pids_limit}")
        lines.append(f"- docker {c.name} ({c.image}, {' '.join(c.cmd)!r}"
                     f"{', ' + ' '.join(limits) if limits else ''}): {c.cgroup}")
    pod = scene.POD
    lines.append(f"- pod {pod.namespace}/{pod.name} ({pod.qos}, uid {pod.uid}): {pod.slice}")
    lines.append(f"  /cri-containerd-<id>.scope for the sandbox ({pod.sandbox_image}) and")
    lines.extend(f"  {c.name} ({c.image}; requests {c.cpu_request}m/"
                 f"{c.memory_request >> 20}Mi, limits {c.cpu_limit}m/{c.memory_limit >> 20}Mi)"
                 for c in pod.containers)
    lines.append("- containerd and the shims: /system.slice/containerd.service")
    lines.append(f"- the sandbox: {' '.join(scene.SANDBOX_ARGV)}")
    lines.append(f"  in {scene.SESSION}")
    lines.append("- pid 1: the VM's init (vm/init, a busybox shell script run as /sbin/init)")
    return "\n".join(lines) + "\n"


def write_tree_at(dirfd: int, base: str, files: dict[str, bytes],
                  links: dict[str, str]) -> None:
    """write_tree relative to an open directory (the detached results share)."""
    made: set[str] = set()

    def makedirs(rel: str) -> None:
        parts = [p for p in rel.split("/") if p]
        for i in range(1, len(parts) + 1):
            d = "/".join(parts[:i])
            if d not in made:
                try:
                    os.mkdir(d, 0o755, dir_fd=dirfd)
                except FileExistsError:
                    pass
                made.add(d)

    for rel, data in sorted(files.items()):
        path = os.path.join(base, rel)
        makedirs(path if rel.endswith("/") else os.path.dirname(path))
        if not rel.endswith("/"):
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644, dir_fd=dirfd)
            try:
                os.write(fd, data)
            finally:
                os.close(fd)
    for rel, target in sorted(links.items()):
        path = os.path.join(base, rel)
        makedirs(os.path.dirname(path))
        os.symlink(target, path, dir_fd=dirfd)


def inside_host(dest: str) -> int:
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from hostscene import scene
    if os.path.dirname(dest) != RESULTS:
        print(f"capture: --scene host writes to {RESULTS}/NAME only", file=sys.stderr)
        return 2
    # before anything starts: a mount namespace made later (bwrap's) copies the
    # host's mounts, and the harness's would stay in it
    results = os.open(RESULTS, os.O_RDONLY | os.O_DIRECTORY)
    for point in HARNESS_MOUNTS:
        if point in mountpoints() or os.path.realpath(point) in mountpoints():
            subprocess.run(["umount", "-l", point], check=True)
    rc = 1
    try:
        try:
            scene.build(IMAGES)
        except BaseException:
            # what containerd said is the first thing to look at
            if os.path.exists("/var/log/containerd.log"):
                with open("/var/log/containerd.log") as f:
                    sys.stderr.write("capture: containerd's log, last lines:\n"
                                     + "".join(f.readlines()[-40:]))
            raise
        scene.settle(FIRST_SETTLE)
        rc = capture_host(results, os.path.basename(dest))
    finally:
        fd = os.open("rc", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644, dir_fd=results)
        os.write(fd, f"{rc}\n".encode())
        os.close(fd)
    return rc


def capture_host(results: int, name: str) -> int:
    before = read_cpu_stats()
    time.sleep(WINDOW)
    cgroup_files = read_cgroups()
    skip = capturing_pids()
    proc_files, proc_links = read_proc_host(skip)
    state_files, state_links = read_state()
    containerd_version = subprocess.run(["containerd", "--version"], check=True,
                                        capture_output=True, text=True).stdout.split()[2]
    everything = {**{f"sys/fs/cgroup/{k}": v for k, v in cgroup_files.items()},
                  **{f"proc/{k}": v for k, v in proc_files.items()},
                  **state_files, **{f"before/{k}": v for k, v in before.items()}}
    links = {**{f"proc/{k}": v for k, v in proc_links.items()}, **state_links}
    bad = tooling_mentions(everything, links)
    if bad:
        print("capture: the capture mentions its own tooling:\n  " + "\n  ".join(bad[:40]),
              file=sys.stderr)
        return 1
    readme = HOST_README.format(
        containerd_version=containerd_version, kernel=os.uname().release,
        scene=describe_scene(), top=", ".join(PROC_TOP),
        state=", ".join(sorted({"/".join(t.split("/")[:2]) for t in STATE_TREES})),
        window=WINDOW, settle=FIRST_SETTLE)
    write_tree_at(results, name, {**everything, "README": readme.encode()}, links)
    n = sum(1 for rel in proc_files if rel.endswith("/stat") and rel.count("/") == 1)
    print(f"capture: {len(cgroup_files)} cgroup entries, {n} processes, "
          f"{len(state_files)} state entries -> {RESULTS}/{name}")
    return 0


# --- on the host ----------------------------------------------------------------------

def on_host(dest: str, scene: str) -> int:
    # .venv/bin/python3, so the capturing process's comm is "python3"
    python = os.path.join(REPO, ".venv", "bin", "python3")
    results = os.path.join(REPO, ".vm", "capture")
    env = {**os.environ, "NSSCOPE_VM_RESULTS": results}
    if scene == "host":
        sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
        from hostscene import images
        images.build(IMAGES)
        # the scene's containers (postgres' shared memory, two python
        # processes, containerd) want more than the tests' VM
        env.setdefault("NSSCOPE_VM_MEM", "3G")
        env.setdefault("NSSCOPE_VM_TIMEOUT", "1800")
    for attempt in range(1, ATTEMPTS + 1):
        rc = subprocess.call([os.path.join(REPO, "vm", "run.sh"), python,
                              "vm/capture-fixture.py", "--scene", scene, "--inside",
                              "/run/vm-results/fixture"], env=env)
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
    ap.add_argument("dest", nargs="?")
    ap.add_argument("--scene", choices=("readers", "host"), default="readers",
                    help="readers: cgroup-v2-vm-full (default); host: scene-v2")
    ap.add_argument("--inside", action="store_true", help="(the VM side)")
    args = ap.parse_args()
    dest = args.dest or DEFAULT_DEST[args.scene]
    if args.inside:
        if not os.environ.get("NSSCOPE_IN_V2_VM") and os.getpid() != CAPTURER_PID:
            print("capture: --inside runs in the v2 VM only", file=sys.stderr)
            return 2
        return inside_host(dest) if args.scene == "host" else inside(dest)
    return on_host(os.path.abspath(dest), args.scene)


if __name__ == "__main__":
    sys.exit(main())

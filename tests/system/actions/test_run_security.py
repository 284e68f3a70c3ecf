"""Security regressions of ``nsscope run`` (issue 12; docs/security.md).

A container's root is hostile input: its /proc or /sys may be a symlink, its
shell may be /proc/self/exe, it shares nothing with the host it could write
through. Each test is a container doing what an attacker's would, checked from
the host or from inside with busybox; none of them ever writes a host file it
should not be able to (the tests read mountinfo and modes, or try a write
that must fail on a file of the test's own).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import uuid

import pytest

from nsscope.actions.run.rootfs import busybox_rootfs
from nsscope.host import runstate

from support import NSSCOPE, need_root, need_tool, run_nsscope

PREFIX = "nsscope-test-sec-"
V2 = pytest.mark.v2


def _name(tag: str) -> str:
    return f"{PREFIX}{tag}-{uuid.uuid4().hex[:6]}"


@pytest.fixture
def root_copy(tmp_path):
    """A writable copy of the busybox root, for a test to make hostile."""
    need_root()
    need_tool("busybox")
    dst = tmp_path / "root"
    shutil.copytree(busybox_rootfs(), dst, symlinks=True)
    return dst


@pytest.fixture
def names():
    made: list[str] = []
    yield made
    for name in made:
        run_nsscope("rm", "-f", name)


def _mounts_inside(*opts: str) -> list[list[str]]:
    r = run_nsscope("run", "--rm", *opts, "--", "cat", "/proc/self/mountinfo")
    assert r.returncode == 0, r.stderr
    return [line.split() for line in r.stdout.splitlines()]


# --- 1. a symlinked /proc or /sys (CVE-2019-19921) ------------------------------------

@pytest.mark.parametrize("where, target", [("proc", "/p"), ("proc", "/proc"),
                                           ("sys", "/s"), ("proc", "../p")])
def test_a_root_whose_proc_or_sys_is_a_symlink_is_refused(root_copy, where, target):
    """Today's bug: the masks were applied at root + "/proc/sys", which the host
    resolved through the image's absolute symlink: every mask was skipped and
    /proc/sys stayed writable (the host's kernel.core_pattern). The run must be
    refused; the command only reads mountinfo, so nothing is written either way."""
    (root_copy / "p").mkdir(exist_ok=True)
    (root_copy / "s").mkdir(exist_ok=True)
    shutil.rmtree(root_copy / where)
    os.symlink(target, root_copy / where)
    r = run_nsscope("run", "--rm", "--rootfs", str(root_copy), "--", "cat",
                    "/proc/self/mountinfo")
    lines = r.stderr.strip().splitlines()
    assert r.returncode != 0, f"the run was not refused; inside:\n{r.stdout}"
    assert len(lines) == 1 and "CVE-2019-19921" in lines[0] and "symlink" in lines[0], r.stderr


@V2
def test_masked_and_read_only_proc_paths_are_on_the_containers_proc():
    """The masks land on the fresh procfs, by fd: /proc/sys and the others read-only."""
    need_root()
    need_tool("busybox")
    mounts = {m[4]: m for m in _mounts_inside("--busybox")}
    for path in ("/proc/sys", "/proc/sysrq-trigger", "/proc/irq", "/proc/bus", "/proc/fs"):
        if not os.path.exists(path):
            continue  # this kernel has none (CONFIG_MAGIC_SYSRQ …)
        assert path in mounts and "ro" in mounts[path][5].split(","), (path, mounts.get(path))
    assert "/proc/keys" in mounts and "/sys/firmware" in mounts
    assert "/proc/sys" in mounts


# --- 2. host /sys with --share net / --net host -------------------------------------

@V2
@pytest.mark.parametrize("opts", [["--share", "net"], ["--net", "host"],
                                  ["--share", "net,cgroup"]])
def test_host_network_gets_no_writable_mount_under_sys(opts):
    """Today's bug: the host's /sys was bound with its submounts (the host's
    cgroupfs …) writable. Every mount at or under /sys must be read-only."""
    need_root()
    need_tool("busybox")
    under = [m for m in _mounts_inside("--busybox", *opts)
             if m[4] == "/sys" or m[4].startswith("/sys/")]
    assert under
    writable = [m[4] for m in under if "ro" not in m[5].split(",")]
    assert not writable, writable


@pytest.mark.parametrize("opts", [["--share", "net", "--userns"]])
def test_host_network_in_a_user_namespace_gets_a_read_only_sys(opts):
    """A user namespace cannot mount a sysfs of the host's net namespace: the host's
    /sys is bound, recursively read-only (mount_setattr AT_RECURSIVE)."""
    need_root()
    need_tool("busybox")
    under = [m for m in _mounts_inside("--busybox", *opts)
             if m[4] == "/sys" or m[4].startswith("/sys/")]
    assert under and not [m[4] for m in under if "ro" not in m[5].split(",")]


# --- 3. /proc/self/exe (CVE-2019-5736) ---------------------------------------------------

def _host_interpreter_digest() -> str:
    with open(os.path.realpath(sys.executable), "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


@pytest.mark.parametrize("init", [False, True])
def test_a_command_that_is_proc_self_exe_is_never_the_host_interpreter(init):
    """Today's bug: CMD /proc/self/exe ran the host's Python inside the container
    (it failed on its missing standard library: "Fatal Python error"). Now it
    finds the sealed exec helper, which refuses to be a command."""
    need_root()
    need_tool("busybox")
    before = _host_interpreter_digest()
    r = run_nsscope("run", "--rm", "--busybox", *(["--init"] if init else []), "--",
                    "/proc/self/exe", "-c", "pass")
    assert "Python" not in r.stderr and "python" not in r.stderr, r.stderr
    assert r.returncode == 126 and "exec helper is not a command" in r.stderr, r.stderr
    assert _host_interpreter_digest() == before


@pytest.mark.parametrize("shell", ["script", "symlink"])
def test_a_shell_that_is_proc_self_exe_is_never_the_host_interpreter(root_copy, shell):
    """A root whose /bin/sh is `#!/proc/self/exe` (the interpreter of a script is
    looked up by the exec'ing process) or a symlink to /proc/self/exe."""
    sh = root_copy / "bin" / "sh"
    sh.unlink()
    if shell == "script":
        sh.write_text("#!/proc/self/exe\nprint('host python ran')\n")
        sh.chmod(0o755)
    else:
        os.symlink("/proc/self/exe", sh)
    r = run_nsscope("run", "--rm", "--rootfs", str(root_copy))  # CMD: /bin/sh
    assert "ython" not in r.stderr + r.stdout, r.stderr
    assert r.returncode == 126, (r.returncode, r.stderr)


def test_init_is_not_a_host_binary_and_cannot_be_written(names):
    """With --init, PID 1 lives as long as the container: it is the exec helper from
    a sealed memfd (today: the host's Python). From inside, its exe cannot be
    opened for writing."""
    need_root()
    need_tool("busybox")
    name = _name("init")
    names.append(name)
    r = run_nsscope("run", "-d", "--init", "--busybox", "--name", name, "--", "sleep", "100")
    assert r.returncode == 0, r.stderr
    c = runstate.find(name)
    exe = os.readlink(f"/proc/{c.pid}/exe")
    assert exe.startswith("/memfd:nsscope-exec"), exe
    r = run_nsscope("enter", name, "--", "sh", "-c",
                    "readlink /proc/1/exe; echo x >> /proc/1/exe && echo WROTE; "
                    "head -c 4 /proc/1/exe | od -c | head -1")
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[0].startswith("/memfd:nsscope-exec"), r.stdout
    assert "WROTE" not in r.stdout and "E   L   F" in r.stdout, r.stdout


# --- 4. an inherited fd as -w (CVE-2024-21626) ------------------------------------------

def test_workdir_through_an_inherited_directory_fd_stays_inside(tmp_path):
    """Today's bug: `exec 100</host/dir; nsscope run -w /proc/self/fd/100` gave the
    container a working directory on the host (read and write)."""
    need_root()
    need_tool("busybox")
    marker = f"nsscope-test-host-only-{uuid.uuid4().hex[:8]}"
    (tmp_path / marker).write_text("host file\n")
    fd = os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.dup2(fd, 100)
        r = subprocess.run(check=False, args=[NSSCOPE, "run", "--rm", "--busybox",
                            "-w", "/proc/self/fd/100", "--", "sh", "-c", "pwd; ls -a"],
                           capture_output=True, text=True, timeout=60, pass_fds=(100,))
    finally:
        os.close(fd)
        os.close(100)
    assert marker not in r.stdout, r.stdout
    assert r.returncode != 0 and len(r.stderr.strip().splitlines()) == 1, r.stderr


def test_workdir_symlink_in_the_image_stays_inside(root_copy):
    """A -w that the image made a symlink to / of the host (absolute, through ..,
    or a /proc magic link) resolves inside the container's root."""
    os.symlink("/../../../../../..", root_copy / "up")
    os.symlink("/proc/1/root", root_copy / "magic")
    r = run_nsscope("run", "--rm", "--rootfs", str(root_copy), "-w", "/up", "--", "sh", "-c",
                    "pwd; ls /")
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[0] == "/" and "up" in r.stdout.split(), r.stdout
    r = run_nsscope("run", "--rm", "--share", "pid", "--rootfs", str(root_copy), "-w",
                    "/magic", "--", "sh", "-c", "ls")
    assert r.returncode != 0 and len(r.stderr.strip().splitlines()) == 1, (r.stdout, r.stderr)


def test_no_fd_of_the_caller_reaches_pid1_or_cmd(tmp_path):
    """The caller's fds are closed before anything else (and CMD gets 0-2)."""
    need_root()
    need_tool("busybox")
    fd = os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.dup2(fd, 100)
        r = subprocess.run(check=False, args=[NSSCOPE, "run", "--rm", "--busybox",
                            "--init", "--", "sh", "-c", "ls /proc/1/fd /proc/self/fd"],
                           capture_output=True, text=True, timeout=60, pass_fds=(100,))
    finally:
        os.close(fd)
        os.close(100)
    assert r.returncode == 0, r.stderr
    assert "100" not in r.stdout.split(), r.stdout


# --- 16. volumes: mounted through an fd inside the root (CVE-2021-30465) ----------------

def test_a_volume_over_a_symlink_lands_inside_the_root(root_copy, tmp_path):
    src = tmp_path / "vol"
    src.mkdir()
    (src / "f").write_text("volume\n")
    os.symlink("/../../../../tmp", root_copy / "data")
    r = run_nsscope("run", "--rm", "--rootfs", str(root_copy), "-v", f"{src}:/data", "--",
                    "cat", "/tmp/f")
    assert r.returncode == 0 and r.stdout == "volume\n", r.stderr


def test_a_directory_volume_over_a_file_says_so_in_one_line(tmp_path):
    """Today: a FileExistsError naming the overlay's path under /run/nsscope."""
    need_root()
    need_tool("busybox")
    r = run_nsscope("run", "--rm", "--busybox", "-v", f"{tmp_path}:/bin/sh", "--", "true")
    lines = r.stderr.strip().splitlines()
    assert r.returncode != 0 and len(lines) == 1, r.stderr
    assert "/bin/sh" in lines[0] and runstate.RUN_DIR not in lines[0], lines

"""nsscope.kernel.syscalls against the kernel's own account: /proc/self/status, stat -f,
uname, /proc/PID/ns. What changes the calling process (unshare, capset, prctl,
sethostname, exec) runs in a fresh interpreter, never in pytest's."""

from __future__ import annotations

import errno
import os
import subprocess
import sys

import pytest

from nsscope.kernel import syscalls

from support import REPO, need_root, need_tool

PYTHON = sys.executable


def child(code: str, **kw) -> subprocess.CompletedProcess:
    """``code`` run by a new interpreter with ``syscalls as sc`` imported."""
    kw.setdefault("timeout", 60)
    head = "import os, sys\nfrom nsscope.kernel import abi, syscalls as sc\n"
    return subprocess.run([PYTHON, "-c", head + code],
                          capture_output=True, text=True, cwd=REPO, check=False, **kw)


def status_field(text: str, name: str) -> str:
    for line in text.splitlines():
        if line.startswith(name + ":"):
            return line.split()[1]
    raise AssertionError(f"no {name} in status")


def test_capset_shrinks_the_sets():
    need_root()
    out = child("e, p, i = sc.capget()\n"
                "drop = 1 << 21 | 1 << 39  # CAP_SYS_ADMIN and one in the high word (CAP_BPF)\n"
                "sc.capset(e & ~drop, p & ~drop, 0)\n"
                "print(open('/proc/self/status').read())\n"
                "print(*map(hex, sc.capget()))")
    assert out.returncode == 0, out.stderr
    status, _, ours = out.stdout.rpartition("\n0x")
    eff, prm = (int(status_field(status, k), 16) for k in ("CapEff", "CapPrm"))
    assert not eff & (1 << 21) and not prm & (1 << 21) and not prm & (1 << 39)
    assert eff & (1 << 0) and prm & (1 << 0)  # CAP_CHOWN stayed
    assert [int(x, 16) for x in ("0x" + ours).split()] == [eff, prm, 0]
    # growing the permitted set back is refused, with errno
    out = child("e, p, i = sc.capget()\n"
                "sc.capset(e & ~(1 << 21), p & ~(1 << 21))\n"
                "try:\n    sc.capset(e, p)\nexcept OSError as x:\n    print(x.errno)")
    assert out.stdout.strip() == str(errno.EPERM), out.stderr


def test_unshare_and_sethostname_in_a_new_uts_namespace():
    need_root()
    out = child("sc.unshare(abi.CLONE_NEWUTS)\n"
                "sc.sethostname('nsscope-test-uts')\n"
                "print(os.readlink('/proc/self/ns/uts'), os.uname().nodename)\n"
                "try:\n    sc.sethostname('x' * 65)\nexcept OSError as e:\n    print(e.errno)")
    assert out.returncode == 0, out.stderr
    link, name, err = out.stdout.split()
    assert link != os.readlink("/proc/self/ns/uts") and name == "nsscope-test-uts"
    assert int(err) == errno.EINVAL  # HOST_NAME_MAX is 64
    assert os.uname().nodename != "nsscope-test-uts"


def test_setns_joins_another_process_and_errors_carry_errno():
    need_root()
    target = subprocess.Popen([need_tool("unshare"), "--uts", "--net", "sleep", "60"])
    try:
        for _ in range(200):
            if os.readlink(f"/proc/{target.pid}/ns/net") != os.readlink("/proc/self/ns/net"):
                break
            os.sched_yield()
        pid = target.pid
        out = child(f"fd = sc.pidfd_open({pid})\n"
                    "sc.pidfd_send_signal(fd, 0)\n"
                    "sc.setns(fd, abi.CLONE_NEWNET | abi.CLONE_NEWUTS)\n"
                    "print(os.readlink('/proc/self/ns/net'), os.readlink('/proc/self/ns/uts'))\n"
                    "try:\n    sc.setns(fd, abi.CLONE_NEWNET | 1)\nexcept OSError as e:\n"
                    "    print(e.errno)\n"
                    "try:\n    sc.setns(9999, 0)\nexcept OSError as e:\n    print(e.errno)")
        assert out.returncode == 0, out.stderr
        net, uts, einval, ebadf = out.stdout.split()
        assert (net, uts) == (os.readlink(f"/proc/{pid}/ns/net"),
                              os.readlink(f"/proc/{pid}/ns/uts"))
        assert (int(einval), int(ebadf)) == (errno.EINVAL, errno.EBADF)
    finally:
        target.kill()
        target.wait()
    with pytest.raises(ProcessLookupError):  # reaped: no such process
        syscalls.pidfd_open(target.pid)


def test_no_new_privs_and_the_bounding_set():
    need_root()
    out = child("sc.capbset_drop(21)\n"
                "sc.set_no_new_privs()\n"
                "print(open('/proc/self/status').read())")
    assert out.returncode == 0, out.stderr
    assert status_field(out.stdout, "NoNewPrivs") == "1"
    assert not int(status_field(out.stdout, "CapBnd"), 16) & (1 << 21)


def _interpreters() -> list[str]:
    """This interpreter and every other CPython 3.10+ on this machine (pyenv's, or
    python3.N on PATH): the wrappers take os.setns on 3.12+, _ctypes before."""
    import glob
    import shutil

    found = {os.path.realpath(sys.executable)}
    candidates = glob.glob(os.path.expanduser("~/.pyenv/versions/3.*/bin/python3"))
    candidates += [shutil.which(f"python3.{minor}") or "" for minor in range(10, 15)]
    for path in candidates:
        # pyenv's shims are scripts that pick a version by configuration: not one
        if path and "/shims/" not in path and os.access(path, os.X_OK):
            found.add(os.path.realpath(path))
    supported = "import sys; print(sys.version_info >= (3, 10))"
    return sorted(p for p in found if subprocess.run(
        [p, "-I", "-c", supported], capture_output=True, text=True, check=False,
        timeout=60).stdout.strip() == "True")


def test_every_python_here_reaches_the_kernel_the_same_way():
    need_root()
    code = ("import os, sys; sys.path.insert(0, sys.argv[1])\n"
            "from nsscope.kernel import abi, syscalls as sc\n"
            "sc.unshare(abi.CLONE_NEWUTS); sc.sethostname('nsscope-py')\n"
            "fd = sc.pidfd_open(os.getpid())\n"
            "try:\n    sc.setns(fd, abi.CLONE_NEWNET | 1)\nexcept OSError as e:\n"
            "    err = e.errno\n"
            "print(os.uname().nodename, err,\n"
            "      hex(sc.statfs_magic('/proc')), *map(hex, sc.capget()))")
    with open("/proc/self/status") as f:
        status = f.read()
    caps = [hex(int(status_field(status, k), 16)) for k in ("CapEff", "CapPrm", "CapInh")]
    seen = []
    for python in _interpreters():
        out = subprocess.run([python, "-I", "-c", code, str(REPO)], capture_output=True,
                             text=True, timeout=60, check=False)
        assert out.returncode == 0, f"{python}: {out.stderr}"
        # PROC_SUPER_MAGIC 0x9fa0; EINVAL: 1 is no namespace type
        assert out.stdout.split() == ["nsscope-py", str(errno.EINVAL), "0x9fa0", *caps], python
        seen.append(python)
    assert os.path.realpath(sys.executable) in seen

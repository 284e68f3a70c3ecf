"""nsscope.kernel.syscalls where no privilege is needed, against the kernel's own
account (/proc/self/status, stat -f), and without loading ctypes.
"""

from __future__ import annotations

import errno
import stat
import subprocess
import sys

import pytest

from nsscope.kernel import syscalls

from support import need_tool, status_field
from support.syscalls import child

PYTHON = sys.executable


def test_capget_is_what_proc_says():
    with open("/proc/self/status") as f:
        status = f.read()
    assert syscalls.capget() == tuple(int(status_field(status, k), 16)
                                      for k in ("CapEff", "CapPrm", "CapInh"))


@pytest.mark.parametrize("path", ["/proc", "/sys", "/sys/fs/cgroup", "/dev", "/"])
def test_statfs_magic_matches_stat_f(path):
    out = subprocess.run([need_tool("stat"), "-f", "-c", "%t", path], capture_output=True,
                         text=True, check=True)
    assert syscalls.statfs_magic(path) == int(out.stdout, 16)


def test_statfs_of_nothing_is_enoent():
    with pytest.raises(FileNotFoundError):
        syscalls.statfs_magic("/nonexistent/nsscope")


def test_memmove_writes_our_own_memory():
    import ctypes  # the oracle: a buffer whose address ctypes knows

    buf = ctypes.create_string_buffer(16)
    syscalls.memmove(ctypes.addressof(buf), b"nsscope\0")
    assert buf.value == b"nsscope"


def test_execvpe_searches_path_like_execvp(tmp_path):
    """PATH from the env given (str or bytes keys), the first error other than
    ENOENT kept (EACCES from a file that cannot run), FileNotFoundError last."""
    noexec, good = tmp_path / "a", tmp_path / "b"
    noexec.mkdir()
    good.mkdir()
    (noexec / "probe").write_text("#!/bin/sh\necho wrong\n")  # mode 0644: EACCES
    script = good / "probe"
    script.write_text("#!/bin/sh\necho \"found $0\"\n")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    path = f"/nonexistent:{noexec}:{good}"
    for env in (f"{{'PATH': {path!r}}}", f"{{b'PATH': {path.encode()!r}}}"):
        out = child(f"sc.execvpe(['probe'], {env})")
        assert (out.returncode, out.stdout) == (0, f"found {script}\n"), out.stderr
    out = child(f"try:\n    sc.execvpe(('probe',), {{'PATH': '/nonexistent:{noexec}'}})\n"
                "except OSError as e:\n    print(type(e).__name__, e.errno)")
    assert out.stdout.split() == ["PermissionError", str(errno.EACCES)]
    out = child("try:\n    sc.execvpe(['nsscope-no-such-cmd'], {'PATH': '/usr/bin:/bin'})\n"
                "except OSError as e:\n    print(type(e).__name__)")
    assert out.stdout.strip() == "FileNotFoundError"


def test_the_module_does_not_load_ctypes():
    """The C library is reached through _ctypes: the ctypes package costs ~3 ms."""
    out = child("sc.capget(); sc.statfs_magic('/'); print('ctypes' in sys.modules)")
    assert out.stdout.strip() == "False", out.stderr

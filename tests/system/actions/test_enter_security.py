"""Security regressions of ``nsscope enter`` (issue 12; docs/security.md).

The target is an ``nsscope run -d --busybox`` container that the test then makes
hostile from inside (its /etc/passwd a FIFO, a ``#!/proc/self/exe`` script …),
as a compromised container would.
"""

from __future__ import annotations

import os
import signal
import subprocess
import uuid

import pytest

from nsscope.host import runstate

from support import NSSCOPE, need_root, need_tool, run_nsscope


@pytest.fixture
def container():
    need_root()
    need_tool("busybox")
    name = f"nsscope-test-sec-{uuid.uuid4().hex[:6]}"
    r = run_nsscope("run", "-d", "--busybox", "--name", name, "--", "sleep", "300")
    assert r.returncode == 0, r.stderr
    yield runstate.find(name)
    run_nsscope("rm", "-f", name)


def _inside(c, script: str) -> None:
    r = run_nsscope("enter", c.name, "--", "sh", "-c", script)
    assert r.returncode == 0, r.stderr


# --- 3. /proc/self/exe (CVE-2019-5736) ---------------------------------------------------

@pytest.mark.parametrize("how", ["direct", "script", "symlink", "net-only"])
def test_cmd_that_is_proc_self_exe_never_runs_the_host_interpreter(container, how):
    """Today's bug: enter exec'd CMD from a fork of the host's Python, so
    /proc/self/exe (or a `#!/proc/self/exe` script) ran the host interpreter in the
    container (or, with -n, in the host's mount namespace on the container's file)."""
    if how == "script":
        _inside(container, "printf '#!/proc/self/exe\\nprint(1)\\n' > /x; chmod 755 /x")
        cmd = ["--", "/x"]
    elif how == "symlink":
        _inside(container, "ln -s /proc/self/exe /x")
        cmd = ["--", "/x"]
    elif how == "net-only":
        cmd = ["-n", "--", "/proc/self/exe", "-c", "print(1)"]
    else:
        cmd = ["--", "/proc/self/exe", "-c", "print(1)"]
    r = run_nsscope("enter", container.name, *cmd)
    assert "ython" not in r.stderr + r.stdout, r.stderr
    assert r.returncode == 126 and "exec helper is not a command" in r.stderr, r


def test_the_process_entering_is_not_dumpable_until_exec(container):
    """No process of the container may open the entering process's /proc/PID/exe
    (the host interpreter), fds or memory before CMD is exec'd: the process that
    joins is not dumpable. Checked where CMD would be exec'd (enter's _become,
    replaced in a separate interpreter by a probe of PR_GET_DUMPABLE)."""
    import sys
    probe = (
        "import os, sys\n"
        "from nsscope.actions import enter\n"
        "from nsscope.kernel import syscalls\n"
        "from nsscope.host import targets\n"
        "def probe(plan, old_mask=None):\n"
        "    os.write(1, b'dumpable=%d\\n' % syscalls._libc.prctl(3, 0, 0, 0, 0))\n"
        "    os._exit(0)\n"
        "enter._become = probe\n"
        f"t = targets.resolve({container.name!r})\n"
        "sys.exit(enter.enter(t, enter.Request(target='x', cmd=('true',))))\n")
    r = subprocess.run(check=False,
                       args=[sys.executable, "-c", probe], capture_output=True, text=True,
                       timeout=30)
    assert r.returncode == 0 and r.stdout == "dumpable=0\n", (r.stdout, r.stderr)


def test_a_fifo_passwd_is_skipped_not_read(container):
    """/etc/passwd a FIFO nobody writes: the default shell is /bin/sh, HOME /."""
    _inside(container, "rm /etc/passwd; mkfifo /etc/passwd")
    p = subprocess.Popen([NSSCOPE, "enter", container.name], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out, err = p.communicate("echo entered $HOME\n", timeout=30)
    # non-blocking, regular files only: the FIFO is ignored, /bin/sh and HOME=/
    assert p.returncode == 0 and "entered /" in out, (out, err)


def test_a_fifo_passwd_neither_hangs_nor_ignores_sigterm(container):
    """Today's bug: with /etc/passwd a FIFO, enter hung forever and ignored ^C and
    SIGTERM (the forwarded signals stayed blocked in the child while it read)."""
    _inside(container, "rm /etc/passwd; mkfifo /etc/passwd; rm /etc/group; "
                       "mkfifo /etc/group")
    p = subprocess.Popen([NSSCOPE, "enter", container.name, "--user", "0", "--", "sh", "-c",
                          "echo started; sleep 100"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = p.stdout.readline()
        assert line == "started\n", (line, p.poll())
        p.send_signal(signal.SIGTERM)
        p.wait(timeout=20)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert p.returncode in (-signal.SIGTERM, 128 + signal.SIGTERM), p.returncode


def test_caller_fds_are_closed_before_the_container_is_read(container, tmp_path):
    """Today's bug: the child held the caller's fds while it read the container's
    /etc/passwd: a symlink to /proc/self/fd/N read a host file through them."""
    host = tmp_path / "passwd"
    host.write_text("root:x:0:0:root:/nsscope-leaked-home:/bin/sh\n")
    _inside(container, "rm /etc/passwd; ln -s /proc/self/fd/100 /etc/passwd")
    fd = os.open(host, os.O_RDONLY)
    try:
        os.dup2(fd, 100)
        r = subprocess.run(check=False,
                       args=[NSSCOPE, "enter", container.name, "--", "sh", "-c", "echo $HOME"],
                           capture_output=True, text=True, timeout=30, pass_fds=(100,))
    finally:
        os.close(fd)
        os.close(100)
    assert r.returncode == 0, r.stderr
    assert "leaked" not in r.stdout and r.stdout.strip() == "/", r.stdout


# --- 5. --env into the host's mount namespace -----------------------------------------

def test_env_without_the_mount_namespace_is_refused(container):
    """Today's bug: --env without -m ran CMD with the container's PATH and LD_* in the
    host's mount namespace (the container's own binary ran there as root)."""
    r = run_nsscope("enter", container.name, "--env", "-n", "--", "true")
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 125 and len(lines) == 1 and "--env" in lines[0], r.stderr
    r = run_nsscope("enter", container.name, "--env", "-m", "--", "true")
    assert r.returncode == 0, r.stderr


# --- 12. CMD killed by SIGKILL ----------------------------------------------------------

def test_cmd_killed_by_sigkill_exits_like_docker_exec(container):
    """Today's bug: exit 125 "cannot enter: Invalid argument" (signal(SIGKILL) EINVAL)."""
    r = run_nsscope("enter", container.name, "--", "sh", "-c", "kill -9 $$")
    assert r.returncode == -signal.SIGKILL, (r.returncode, r.stderr)
    assert "cannot enter" not in r.stderr
    r = subprocess.run(check=False,
                       args=["sh", "-c", f"{NSSCOPE} enter {container.name} -- sh -c 'kill -9 $$'; "
                                    "echo $?"], capture_output=True, text=True, timeout=30)
    assert r.stdout.strip() == "137", r


# --- what already held -----------------------------------------------------------------

def test_enter_gives_the_containers_uid_caps_and_cgroup_and_no_fd(container):
    r = run_nsscope("enter", container.name, "--", "sh", "-c",
                    "id -u; grep -E '^(CapBnd|NoNewPrivs)' /proc/self/status; "
                    "ls /proc/self/fd | xargs; "
                    "[ \"$(cat /proc/1/cgroup)\" = \"$(cat /proc/self/cgroup)\" ] && echo same")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == "0" and lines[1].split()[1] == "00000000a80425fb", lines
    # 3 is ls's own directory fd
    assert lines[2].split()[1] == "1" and lines[3].split() == ["0", "1", "2", "3"], lines
    assert lines[4] == "same", lines

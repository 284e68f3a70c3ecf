"""``nsscope enter`` against the real kernel.

Targets are made by ``unshare`` (with and without a user namespace, a busybox
root, a cgroup of our own). Oracles: what the target itself printed about its
namespaces, hostname, cgroups and ids before it went to sleep; ``nsenter
--all`` where its semantics coincide; /proc/PID of the target; the cgroup
files. Every target is killed and every cgroup removed afterwards.
"""

from __future__ import annotations

import errno
import json
import os
import pty
import select
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from nsscope.actions import enter as enter_mod
from nsscope.host.model import NS_LINKS

from support import IN_V2_VM, NSSCOPE, REPO, need_tool, read_file, run_nsscope, write_file
from support.enter import ENTER_PATH
from support.nobody import nobody_nsscope, nobody_python

#: the issue's probe: run by the target about itself, and by CMD inside it
PROBE = "readlink /proc/self/ns/*; hostname; cat /proc/self/cgroup; id"
#: the target prints this after its probe, then becomes `sleep`
READY = "nsscope-test-ready"
PYTHON = sys.executable
NOBODY = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
#: a user namespace, and every other type, in one target
ALL_TYPES = ["unshare", "--fork", "--kill-child", "--pid", "--mount-proc", "--mount", "--uts",
             "--ipc", "--net", "--cgroup", "--time", "--user", "--map-root-user"]
#: several flag sets, one with a user namespace (the issue's "Tests")
FLAG_SETS = {
    "uts-ipc-net": ["unshare", "--uts", "--ipc", "--net"],
    "pid-mnt": ["unshare", "--fork", "--kill-child", "--pid", "--mount-proc", "--mount",
                "--uts", "--ipc"],
    "cgroup-time": ["unshare", "--fork", "--kill-child", "--cgroup", "--time", "--uts"],
    "user-all": ALL_TYPES,
}


class Target:
    """A process made to be entered: it printed ``own`` (its probe), then sleeps."""

    def __init__(self, argv: list[str], probe: str = PROBE, setup: str = "",
                 env: dict[str, str] | None = None) -> None:
        script = f"{setup}{{ {probe}; }} 2>&1; echo {READY}; exec sleep 1000"
        self.popen = subprocess.Popen([*argv, "sh", "-c", script], stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE, text=True,
                                      start_new_session=True, env=env)
        lines = []
        assert self.popen.stdout is not None
        for line in self.popen.stdout:
            if line.rstrip("\n") == READY:
                break
            lines.append(line)
        else:
            err = self.popen.stderr.read()
            self.kill()
            pytest.fail(f"target {argv} failed: {''.join(lines)}{err}")
        self.own = "".join(lines)
        self.pid = self._leaf(self.popen.pid)
        # the probe ran in the process that is now `sleep`
        for _ in range(500):
            if Path(f"/proc/{self.pid}/comm").read_text().strip() == "sleep":
                break
            time.sleep(0.01)

    @staticmethod
    def _leaf(pid: int) -> int:
        """unshare --fork runs the command in a child: follow the only child down."""
        while True:
            kids = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
            if not kids:
                return pid
            pid = int(kids[0])

    def links(self) -> dict[str, str]:
        return {link: os.readlink(f"/proc/{self.pid}/ns/{link}") for link in NS_LINKS
                if os.path.exists(f"/proc/{self.pid}/ns/{link}")}

    def kill(self) -> None:
        try:
            os.killpg(self.popen.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.popen.wait(timeout=30)
        for f in (self.popen.stdout, self.popen.stderr):
            if f is not None:
                f.close()


@pytest.fixture
def make_target():
    made: list[Target] = []

    def make(argv: list[str], **kw) -> Target:
        t = Target(argv, **kw)
        made.append(t)
        return t
    yield make
    for t in made:
        t.kill()


def enter(*args: str, **kw) -> subprocess.CompletedProcess:
    return run_nsscope("enter", *args, **kw)


def run(argv: list[str], **kw) -> subprocess.CompletedProcess:
    """Another program (an oracle, or nsscope through setpriv): output as text."""
    kw.setdefault("capture_output", True)
    kw.setdefault("text", True)
    kw.setdefault("timeout", 60)
    return subprocess.run(argv, check=False, **kw)


def our_links() -> dict[str, str]:
    return {link: os.readlink(f"/proc/self/ns/{link}") for link in NS_LINKS
            if os.path.exists(f"/proc/self/ns/{link}")}


def one_line_error(out: subprocess.CompletedProcess, status: int, *words: str) -> None:
    """A bad input: the given status, one line on stderr naming the problem, no traceback."""
    assert out.returncode == status, (out.returncode, out.stdout, out.stderr)
    err = out.stderr.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("nsscope: "), out.stderr
    assert "Traceback" not in out.stderr
    for w in words:
        assert w in err[0], err[0]


@pytest.fixture(scope="module")
def rootfs(tmp_path_factory) -> Path:
    """A busybox root: /bin/ash is root's login shell, uid 1000's (/bin/zsh) is absent."""
    busybox = need_tool("busybox")
    root = tmp_path_factory.mktemp("nsscope-test-rootfs")
    root.chmod(0o755)  # uid 1000 runs in it
    for d in ("bin", "etc", "proc", "tmp", "root", "home/tester"):
        (root / d).mkdir(parents=True)
    shutil.copy(busybox, root / "bin" / "busybox")
    applets = subprocess.run([busybox, "--list"], capture_output=True, text=True,
                             check=True).stdout.split()
    for name in applets:
        if name != "busybox":
            (root / "bin" / name).symlink_to("busybox")
    (root / "etc" / "passwd").write_text("root:x:0:0:root:/root:/bin/ash\n"
                                         "tester:x:1000:1000::/home/tester:/bin/zsh\n")
    (root / "etc" / "group").write_text("root:x:0:\ntester:x:1000:\nwheel:x:10:tester\n")
    (root / "etc" / "motd").write_text("not a program\n")
    return root


def rooted(rootfs: Path) -> list[str]:
    return ["unshare", "--fork", "--kill-child", "--pid", "--mount", "--mount-proc", "--uts",
            "--ipc", f"--root={rootfs}", "--wd=/tmp"]


@pytest.mark.parametrize("flags", FLAG_SETS.values(), ids=FLAG_SETS.keys())
def test_matches_target_and_nsenter(make_target, flags):
    t = make_target(flags, setup="hostname nsscope-test-host; ")
    out = enter(str(t.pid), "--", "sh", "-c", PROBE)
    assert out.returncode == 0, out.stderr
    assert out.stdout == t.own
    # the probe really shows the target's namespaces, not ours
    for text in t.links().values():
        assert text in out.stdout
    assert "nsscope-test-host" in out.stdout
    oracle = run(["nsenter", "--all", "-t", str(t.pid), "sh", "-c", PROBE])
    assert oracle.returncode == 0, oracle.stderr
    assert out.stdout == oracle.stdout


def test_unprivileged_caller_enters_its_own_user_namespace_first(make_target):
    """nobody's rootless sandbox, entered by nobody: the user namespace must come first
    (it grants the capabilities the others need), with one setns(pidfd) and per fd."""
    t = make_target([*NOBODY, "unshare", "--user", "--map-root-user", "--uts", "--ipc", "--net"],
                    setup="hostname nsscope-test-rootless; ")
    out = run([*NOBODY, *nobody_nsscope(), "enter", str(t.pid), "--", "sh", "-c", PROBE])
    assert out.returncode == 0, out.stderr
    assert out.stdout == t.own
    code = ("import sys; from nsscope.actions.enter import Request, enter; "
            "from nsscope.host.targets import resolve; "
            f"sys.exit(enter(resolve('{t.pid}'), Request(target='{t.pid}', "
            f"cmd=('sh', '-c', {PROBE!r})), pidfd_setns=False))")
    per_fd = run([*NOBODY, *nobody_python(), "-c", code], cwd="/")
    assert per_fd.returncode == 0, per_fd.stderr
    assert per_fd.stdout == t.own


@pytest.mark.parametrize("flags", [FLAG_SETS["pid-mnt"], ALL_TYPES], ids=["pid-mnt", "user-all"])
def test_one_setns_per_fd_gives_the_same(make_target, flags):
    """The path for kernels < 5.8: every /proc/PID/ns/* opened first, then one setns each."""
    t = make_target(flags)
    code = ("import sys; from nsscope.actions.enter import Request, enter; "
            "from nsscope.host.targets import resolve; "
            f"sys.exit(enter(resolve('{t.pid}'), Request(target='{t.pid}', "
            f"cmd=('sh', '-c', {PROBE!r})), pidfd_setns=False))")
    out = run([PYTHON, "-c", code])
    assert out.returncode == 0, out.stderr
    assert out.stdout == t.own


def test_user_namespace_below_a_host_owned_namespace(make_target):
    """Its net namespace is owned by the host's user namespace, its user namespace is
    a child of the host's: both are joined, as nsenter joins them."""
    t = make_target(["unshare", "--net", "unshare", "--user", "--map-root-user", "--uts"])
    out = enter(str(t.pid), "--", "sh", "-c", PROBE)
    assert out.returncode == 0, out.stderr
    oracle = run(["nsenter", "--all", "-t", str(t.pid), "sh", "-c", PROBE])
    assert out.stdout == oracle.stdout
    assert os.readlink(f"/proc/{t.pid}/ns/net") in out.stdout
    assert os.readlink(f"/proc/{t.pid}/ns/user") in out.stdout


def test_privileged_is_nsenter(make_target):
    """--privileged keeps the caller's credentials and capabilities: nsenter --all's view,
    bounding set included."""
    t = make_target(ALL_TYPES)
    probe = PROBE + "; grep -E '^(CapBnd|CapEff|NoNewPrivs)' /proc/self/status"
    ours = enter(str(t.pid), "--privileged", "--", "sh", "-c", probe)
    oracle = run(["nsenter", "--all", "-t", str(t.pid), "sh", "-c", probe])
    assert ours.returncode == 0, ours.stderr
    assert ours.stdout == oracle.stdout


SELECTIONS = [
    (["-n"], {"net"}),
    (["-u", "-i"], {"uts", "ipc"}),
    (["--net", "--uts"], {"net", "uts"}),
    (["-ui"], {"uts", "ipc"}),
    (["-p"], {"pid"}),
    (["-m", "-p"], {"mnt", "pid"}),
    (["--mount", "--pid", "--user"], {"mnt", "pid", "user"}),
    (["-U"], {"user"}),
    (["-U", "-n"], {"user", "net"}),
    (["-C"], {"cgroup"}),
    (["-T"], {"time"}),
    (["--cgroup", "--time", "--ipc"], {"cgroup", "time", "ipc"}),
]


@pytest.mark.parametrize("where", ["after", "before"])
@pytest.mark.parametrize("flags,types", SELECTIONS, ids=[" ".join(f) for f, _ in SELECTIONS])
def test_selective_flags_enter_exactly_those(make_target, flags, types, where):
    t = make_target(ALL_TYPES)
    theirs, ours = t.links(), our_links()
    args = [str(t.pid), *flags] if where == "after" else [*flags, str(t.pid)]
    out = enter(*args, "--", "sh", "-c", "readlink /proc/self/ns/*")
    assert out.returncode == 0, out.stderr
    expected = []
    for link in sorted(theirs):  # the shell's glob order
        typ = link.split("_for_")[0]
        expected.append(theirs[link] if typ in types else ours[link])
    assert out.stdout.split() == expected


def test_cmd_without_double_dash(make_target):
    t = make_target(FLAG_SETS["uts-ipc-net"])
    out = enter(str(t.pid), "-n", "readlink", "/proc/self/ns/net", "/proc/self/ns/uts")
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == [os.readlink(f"/proc/{t.pid}/ns/net"),
                                  os.readlink("/proc/self/ns/uts")]


def stat_id(path: str) -> str:
    st = os.stat(path)
    return f"{st.st_dev}:{st.st_ino}"


def test_root_and_working_directory(make_target, rootfs):
    """Default: the target's root and cwd (nsenter -a -r -w); selective: the host's
    filesystem unless -m; -r/-w take the target's, or a directory given."""
    t = make_target(rooted(rootfs))
    here = "pwd; ls /; stat -c %d:%i / ."
    out = enter(str(t.pid), "--", "sh", "-c", here)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.split("\n")
    assert lines[0] == "/tmp"
    listing = sorted(p.name for p in rootfs.iterdir())
    assert lines[1:1 + len(listing)] == listing
    assert out.stdout.split()[-2:] == [stat_id(str(rootfs)), stat_id(str(rootfs / "tmp"))]
    oracle = run(["nsenter", "-a", "-r", "-w", "-t", str(t.pid), "sh", "-c", here])
    assert out.stdout == oracle.stdout

    def where(*flags: str) -> list[str]:
        got = enter(str(t.pid), *flags, "--", "stat", "-c", "%d:%i", "/", ".")
        assert got.returncode == 0, got.stderr
        return got.stdout.split()

    host_root, host_cwd = stat_id("/"), stat_id(".")
    assert where("-n") == [host_root, host_cwd]            # the host's filesystem stays
    assert where("-n", "-r") == [stat_id(str(rootfs))] * 2  # chroot, cwd its root
    assert where("-n", "-r", "-w") == [stat_id(str(rootfs)), stat_id(str(rootfs / "tmp"))]
    assert where("-n", f"--wd={rootfs}/etc") == [host_root, stat_id(str(rootfs / "etc"))]
    assert where("-n", f"-r{rootfs}") == [stat_id(str(rootfs))] * 2
    # -m alone: the root of the mount namespace (unshare --root chrooted the target
    # inside it), and cwd there, as nsenter -m gives them
    oracle = run(["nsenter", "-m", "-p", "-t", str(t.pid), "stat", "-c", "%d:%i", "/", "."])
    assert oracle.returncode == 0, oracle.stderr
    assert where("-m", "-p") == oracle.stdout.split()


@pytest.mark.parametrize("flags", [FLAG_SETS["pid-mnt"], FLAG_SETS["uts-ipc-net"]],
                         ids=["forks", "execs"])
def test_exit_status_and_terminating_signal(make_target, flags):
    t = make_target(flags)
    assert enter(str(t.pid), "--", "sh", "-c", "exit 7").returncode == 7
    killed = enter(str(t.pid), "--", "sh", "-c", "kill -TERM $$")
    assert killed.returncode == -signal.SIGTERM, killed.stderr
    # and as a shell reports it
    shell = run(["sh", "-c", f'{NSSCOPE} enter {t.pid} -- sh -c "kill -TERM \\$\\$"; '
                                        'echo $?'])
    assert shell.stdout.strip() == "143"


def test_signals_sent_to_nsscope_reach_cmd(make_target):
    t = make_target(FLAG_SETS["pid-mnt"])  # a pid namespace: nsscope forks and waits
    script = 'trap "echo got-TERM; exit 3" TERM; echo ready; while :; do sleep 0.1; done'
    p = subprocess.Popen([NSSCOPE, "enter", str(t.pid), "--", "sh", "-c", script],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert p.stdout.readline().strip() == "ready"
        # CMD runs in a child: the signal goes to nsscope only, which passes it on
        p.send_signal(signal.SIGTERM)
        rest, err = p.communicate(timeout=60)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert p.returncode == 3, err
    assert rest.strip() == "got-TERM"


def test_stdin_passes_through(make_target):
    t = make_target(FLAG_SETS["pid-mnt"])
    out = enter(str(t.pid), "--", "sh", "-c", "read a; read b; echo $b $a", input="one\ntwo\n")
    assert out.returncode == 0, out.stderr
    assert out.stdout == "two one\n"


def read_pty(master: int, until: bytes, proc: subprocess.Popen) -> bytes:
    """Read what CMD wrote on the terminal until ``until`` shows up or it ends."""
    got = b""
    while until not in got:
        ready, _, _ = select.select([master], [], [], 60)
        if not ready:
            break
        try:
            data = os.read(master, 4096)
        except OSError as e:
            if e.errno == errno.EIO:  # the slave side was closed: CMD is done
                break
            raise
        if not data:
            break
        got += data
    return got


def test_tty_passes_through(make_target):
    t = make_target(FLAG_SETS["pid-mnt"])
    master, slave = pty.openpty()
    rdev = os.fstat(slave).st_rdev
    script = ("test -t 0 && test -t 1 && echo tty-yes; stat -L -c %t:%T /proc/self/fd/0; "
              "read line; echo got:$line; exit 4")
    p = subprocess.Popen([NSSCOPE, "enter", str(t.pid), "--", "sh", "-c", script],
                         stdin=slave, stdout=slave, stderr=slave, start_new_session=True)
    os.close(slave)
    try:
        os.write(master, b"hello\n")
        got = read_pty(master, b"got:hello", p).decode()
        assert p.wait(timeout=60) == 4
    finally:
        os.close(master)
        if p.poll() is None:
            p.kill()
            p.wait()
    assert "tty-yes" in got
    assert f"{os.major(rdev):x}:{os.minor(rdev):x}" in got  # the very same terminal
    assert "got:hello" in got


def test_default_cmd_is_the_login_shell_of_the_target_root(make_target, rootfs):
    t = make_target(rooted(rootfs))
    master, slave = pty.openpty()
    p = subprocess.Popen([NSSCOPE, "enter", str(t.pid)], stdin=slave, stdout=slave,
                         stderr=slave, start_new_session=True)
    os.close(slave)
    try:
        os.write(master, b"echo shell=$0 home=$HOME; exit 5\n")
        got = read_pty(master, b"home=/root", p).decode()
        assert p.wait(timeout=60) == 5
    finally:
        os.close(master)
        if p.poll() is None:
            p.kill()
            p.wait()
    assert "shell=/bin/ash home=/root" in got  # root's shell in the target's /etc/passwd
    # uid 1000's login shell, /bin/zsh, is not in that root: /bin/sh
    out = enter(str(t.pid), "--user", "1000", input='echo shell=$0 home=$HOME; id -G\n')
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["shell=/bin/sh", "home=/home/tester", "1000", "10"]


@pytest.mark.parametrize("flags", [FLAG_SETS["pid-mnt"], FLAG_SETS["uts-ipc-net"]],
                         ids=["forks", "execs"])
def test_no_fd_beyond_0_to_2(make_target, flags, tmp_path):
    t = make_target(flags)
    leak = os.open(tmp_path / "leak", os.O_RDWR | os.O_CREAT)  # inherited by nsscope
    try:
        out = enter(str(t.pid), "--", "sh", "-c", "ls /proc/$$/fd", pass_fds=(leak,))
        # the same shell line, outside, sees the fd
        outside = run(["sh", "-c", "ls /proc/$$/fd"], pass_fds=(leak,))
    finally:
        os.close(leak)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["0", "1", "2"]
    assert str(leak) in outside.stdout.split()


def test_clean_environment_by_default(make_target):
    t = make_target(FLAG_SETS["pid-mnt"], env={"PATH": os.environ["PATH"], "SECRET": "x"})
    env = dict(os.environ, TERM="nsscope-test-term", SECRET="y")
    out = enter(str(t.pid), "--", "env", env=env)
    assert out.returncode == 0, out.stderr
    assert sorted(out.stdout.splitlines()) == [
        "HOME=/root", f"PATH={enter_mod.DEFAULT_PATH}", "TERM=nsscope-test-term"]
    env.pop("TERM")
    out = enter(str(t.pid), "--", "env", env=env)
    assert "TERM=dumb" in out.stdout.splitlines()


def test_env_copies_the_target_environment(make_target):
    t = make_target(["env", "-i", "PATH=/usr/bin:/bin", "NSSCOPE_TEST_A=1",
                     "NSSCOPE_TEST_B=two words", *FLAG_SETS["pid-mnt"]])
    out = run_nsscope("enter", str(t.pid), "--env", "--", "env", "-0")
    assert out.returncode == 0, out.stderr
    environ = Path(f"/proc/{t.pid}/environ").read_bytes().decode()
    assert out.stdout.split("\0") == environ.split("\0")
    assert "NSSCOPE_TEST_B=two words" in out.stdout.split("\0")


def test_takes_the_target_ids(make_target):
    t = make_target(["unshare", "--uts", *NOBODY])
    assert "uid=65534" in t.own
    out = enter(str(t.pid), "--", "sh", "-c", PROBE)
    assert out.returncode == 0, out.stderr
    assert out.stdout == t.own
    home = enter(str(t.pid), "--", "env")
    assert "HOME=/nonexistent" in home.stdout.splitlines()  # nobody's, from /etc/passwd
    ids = enter(str(t.pid), "--user", "1234:4321", "--", "sh", "-c", "id -u; id -g; id -G")
    assert ids.stdout.split() == ["1234", "4321", "4321"]
    ids = enter(str(t.pid), "--user=1234:4321", "--", "id", "-u")
    assert ids.stdout.split() == ["1234"]
    kept = enter(str(t.pid), "--privileged", "--", "id", "-u")
    assert kept.stdout.split() == [str(os.getuid())]


def test_user_not_mapped_in_the_target_user_namespace(make_target):
    t = make_target(ALL_TYPES)  # maps only uid 0
    out = enter(str(t.pid), "--user", "5", "--", "touch", "/tmp/nsscope-test-never")
    one_line_error(out, 125, "mapping")


def status_lines(text: str) -> list[str]:
    return [line for line in text.splitlines()
            if line.split(":")[0] in ("CapBnd", "CapEff", "CapPrm", "NoNewPrivs")]


def test_bounding_set_and_no_new_privs(make_target):
    probe = "grep -E '^(CapBnd|CapEff|CapPrm|NoNewPrivs)' /proc/self/status"
    t = make_target(["unshare", "--uts", "setpriv", "--bounding-set=-net_raw,-sys_time,-chown",
                     "--no-new-privs"], probe=probe)
    assert "NoNewPrivs:\t1" in t.own
    out = enter(str(t.pid), "--", "sh", "-c", probe)
    assert out.returncode == 0, out.stderr
    assert out.stdout == t.own
    mine = Path("/proc/self/status").read_text()
    kept = enter(str(t.pid), "--privileged", "--", "grep", "-E", "^(CapBnd|NoNewPrivs)",
                 "/proc/self/status")
    assert status_lines(kept.stdout) == [x for x in status_lines(mine)
                                         if x.startswith(("CapBnd", "NoNewPrivs"))]


@pytest.fixture
def make_cgroup():
    """nsscope-test-… under the given hierarchy mountpoints; killed empty and removed after."""
    made: list[Path] = []

    def make(*mountpoints: str) -> tuple[str, list[Path]]:
        name = f"nsscope-test-enter-{uuid.uuid4().hex[:8]}"
        dirs = [Path(m) / name for m in mountpoints]
        for d in dirs:
            if not d.parent.is_dir():
                pytest.fail(f"{d.parent} is not mounted")
            d.mkdir()
            made.append(d)
        return name, dirs
    yield make
    for d in made:
        for _ in range(100):
            for pid in (d / "cgroup.procs").read_text().split():
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except ProcessLookupError:
                    pass
            try:
                d.rmdir()
                break
            except OSError as e:
                if e.errno != errno.EBUSY:
                    raise
                time.sleep(0.05)


def in_cgroups(make_target, dirs: list[Path], cgroupns: bool) -> Target:
    join = "".join(f"echo $$ > {d}/cgroup.procs; " for d in dirs)
    flags = ["unshare", "--fork", "--kill-child", "--pid", "--mount-proc", "--uts"]
    if cgroupns:
        flags.append("--cgroup")
    return make_target(["sh", "-c", f'{join}exec "$@"', "-", *flags])


def cmd_cgroups(t: Target, dirs: list[Path]) -> list[str]:
    """/proc/PID/cgroup of a CMD started by nsscope enter, seen from outside; and it is
    in the cgroup.procs of every cgroup in ``dirs``."""
    p = subprocess.Popen([NSSCOPE, "enter", str(t.pid), "--", "sh", "-c",
                          "echo ready; exec sleep 1000"], stdout=subprocess.PIPE, text=True)
    try:
        assert p.stdout.readline().strip() == "ready"
        cmd = int(Path(f"/proc/{p.pid}/task/{p.pid}/children").read_text().split()[0])
        for d in dirs:
            assert str(cmd) in (d / "cgroup.procs").read_text().split()
            # the waiting nsscope is not the container's (as runc exec's runc is not)
            assert str(p.pid) not in (d / "cgroup.procs").read_text().split()
        assert Path(f"/proc/{p.pid}/cgroup").read_text() == Path("/proc/self/cgroup").read_text()
        return Path(f"/proc/{cmd}/cgroup").read_text().splitlines()
    finally:
        p.kill()
        p.wait()
        p.stdout.close()


@pytest.mark.parametrize("cgroupns", [True, False], ids=["cgroupns", "no-cgroupns"])
def test_joins_the_target_cgroups(make_target, make_cgroup, cgroupns):
    """A cgroup of the v1 cpu hierarchy and one of the unified hierarchy (hybrid host)."""
    name, dirs = make_cgroup("/sys/fs/cgroup/cpu", "/sys/fs/cgroup/unified")
    t = in_cgroups(make_target, dirs, cgroupns)
    assert f"1:cpu:/{'' if cgroupns else name}" in t.own.splitlines()
    out = enter(str(t.pid), "--", "sh", "-c", PROBE)
    assert out.returncode == 0, out.stderr
    assert out.stdout == t.own
    lines = cmd_cgroups(t, dirs)
    assert f"1:cpu:/{name}" in lines and f"0::/{name}" in lines


def pids_hierarchy() -> str:
    """Where the pids controller is: its v1 mount, or a cgroup2 root delegating it
    (systemd delegates it; in the test VM, whose root is ours, it is turned on)."""
    from nsscope.host import cgroups

    for h in cgroups.hierarchies():
        if h.version == 1 and "pids" in h.controllers:
            return h.mountpoint
        if h.version == 2 and "pids" in h.controllers:
            control = f"{h.mountpoint}/cgroup.subtree_control"
            if "pids" not in read_file(control).split() and IN_V2_VM:
                write_file(control, "+pids")
            if "pids" in read_file(control).split():
                return h.mountpoint
    pytest.fail("no hierarchy offers the pids controller")


@pytest.mark.v2
def test_a_container_at_its_pids_limit_can_be_entered(make_target, make_cgroup):
    """Like docker exec: CMD is one more process in the target's cgroup, the waiting
    nsscope none. With pids.max at what is there plus one, CMD starts (and a second
    process in there cannot)."""
    name, dirs = make_cgroup(pids_hierarchy())
    t = in_cgroups(make_target, dirs, cgroupns=False)
    d = dirs[0]
    write_file(str(d / "pids.max"), str(int(read_file(str(d / "pids.current"))) + 1))
    out = enter(str(t.pid), "--", "cat", "/proc/self/cgroup")
    assert (out.returncode, out.stderr) == (0, "")
    assert f"/{name}" in out.stdout
    full = enter(str(t.pid), "--", "sh", "-c", "/bin/true && echo forked")
    assert full.returncode != 0 and "forked" not in full.stdout
    assert int(read_file(str(d / "pids.events")).split()[1]) >= 1  # "max N": forks refused


@pytest.mark.v2
def test_joins_the_target_cgroup_v2(make_target, make_cgroup):
    """On the unified hierarchy wherever it is mounted: also in the cgroup-v2 VM of
    `make test-v2`, where it is the only one."""
    from nsscope.host import cgroups

    unified = [h.mountpoint for h in cgroups.hierarchies() if h.version == 2]
    if not unified:
        pytest.fail("no cgroup2 hierarchy is mounted")
    name, dirs = make_cgroup(unified[0])
    t = in_cgroups(make_target, dirs, cgroupns=True)
    assert "0::/" in t.own.splitlines()
    out = enter(str(t.pid), "--", "sh", "-c", PROBE)
    assert out.returncode == 0, out.stderr
    assert out.stdout == t.own
    assert f"0::/{name}" in cmd_cgroups(t, dirs)


@pytest.fixture
def runc_container(rootfs, tmp_path):
    """A runc container on the busybox root, in cgroup /nsscope-test-…; deleted after."""
    runc = need_tool("runc")
    name = f"nsscope-test-enter-{uuid.uuid4().hex[:8]}"
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    subprocess.run([runc, "spec"], cwd=bundle, check=True)
    config = json.loads((bundle / "config.json").read_text())
    config["process"]["terminal"] = False
    config["process"]["args"] = ["sleep", "1000"]
    config["root"] = {"path": str(rootfs), "readonly": True}
    config["hostname"] = name
    config["linux"]["cgroupsPath"] = f"/{name}"
    (bundle / "config.json").write_text(json.dumps(config))
    log = tmp_path / "runc.log"
    with open(log, "w") as err:
        started = subprocess.run([runc, "run", "-d", "--bundle", str(bundle), name],
                                 stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                 stderr=err, timeout=60, check=False)
    try:
        assert started.returncode == 0, log.read_text()
        yield name
    finally:
        subprocess.run([runc, "delete", "--force", name], capture_output=True, timeout=60,
                       check=False)


def test_container_by_name_is_like_runc_exec(runc_container):
    """Entered by its name (as `nsscope ps` lists it), a container is what `runc exec`
    gives: its namespaces, every cgroup, its ids, capabilities, no_new_privs, a clean
    environment and fds 0-2 only."""
    probe = ("for f in /proc/self/ns/*; do readlink $f; done; hostname; cat /proc/self/cgroup; "
             "id; grep -E '^(Cap|NoNewPrivs)' /proc/self/status; ls /proc/$$/fd; env | sort")
    env = dict(os.environ, TERM="xterm")  # what runc spec puts in the container's env
    ours = enter(runc_container, "--", "sh", "-c", probe, env=env)
    assert ours.returncode == 0, ours.stderr
    oracle = run(["runc", "exec", runc_container, "sh", "-c", probe])
    assert oracle.returncode == 0, oracle.stderr
    assert ours.stdout == oracle.stdout
    assert f"1:cpu:/{runc_container}" in ours.stdout.splitlines()


REUSE = r"""
import os, subprocess, sys, time
from nsscope.host import processes
from nsscope.actions.enter import Request, enter
from nsscope.errors import NsscopeError
from nsscope.host.targets import resolve

pidfd_setns, marker = {"pidfd": None, "fds": False}[sys.argv[1]], sys.argv[2]
victim = subprocess.Popen(["unshare", "--uts", "sleep", "1000"])
target = resolve(str(victim.pid))          # what `nsscope enter PID` resolved
victim.kill()
victim.wait()                              # the target exits ...
# ... and a new process takes its pid: in this fresh pid namespace the next fork
# gets ns_last_pid + 1 (pid_namespaces(7))
hz = os.sysconf("SC_CLK_TCK")
while int(time.clock_gettime(time.CLOCK_BOOTTIME) * hz) <= target.starttime:
    time.sleep(0.005)                      # start times count clock ticks: be in a later one
fd = os.open("/proc/sys/kernel/ns_last_pid", os.O_WRONLY)
os.write(fd, str(target.pid - 1).encode())
os.close(fd)
reuser = subprocess.Popen(["unshare", "--uts", "sleep", "1000"])
assert reuser.pid == target.pid, (reuser.pid, target.pid)
assert processes.starttime(reuser.pid) != target.starttime
try:
    enter(target, Request(target=str(target.pid), cmd=("touch", marker)),
          pidfd_setns=pidfd_setns)
    print("entered")
except NsscopeError as e:
    print(f"refused: {e}")
reuser.kill()
reuser.wait()
"""


@pytest.mark.parametrize("how", ["pidfd", "fds"])
def test_reused_pid_is_refused(tmp_path, how):
    marker = tmp_path / "entered"
    out = run(["unshare", "--fork", "--kill-child", "--pid", "--mount-proc",
               PYTHON, "-c", REUSE, how, str(marker)], cwd=REPO)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("refused: process "), out.stdout
    assert "its pid was reused" in out.stdout
    assert not marker.exists()


def free_pid() -> int:
    pid = int(Path("/proc/sys/kernel/pid_max").read_text()) - 1
    while os.path.exists(f"/proc/{pid}"):
        pid -= 1
    return pid


def test_nonexistent_pid():
    one_line_error(enter(str(free_pid()), "--", "true"), 125, "no such process")


def test_kernel_thread():
    one_line_error(enter("2", "--", "true"), 125, "kernel thread")


def test_zombie(tmp_path):
    code = "import os, time\npid = os.fork()\nif pid == 0: os._exit(0)\nprint(pid, flush=True)\n" \
           "time.sleep(1000)"
    parent = subprocess.Popen([PYTHON, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        zombie = int(parent.stdout.readline())
        for _ in range(500):
            if Path(f"/proc/{zombie}/stat").read_text().split(")")[-1].split()[0] == "Z":
                break
            time.sleep(0.01)
        out = enter(str(zombie), "--", "touch", str(tmp_path / "entered"))
    finally:
        parent.kill()
        parent.wait()
        parent.stdout.close()
    one_line_error(out, 125, "zombie")
    assert not (tmp_path / "entered").exists()


def test_own_pid(tmp_path):
    out = run(["sh", "-c", f'exec {NSSCOPE} enter $$ -- touch {tmp_path}/entered'])
    one_line_error(out, 125, "nsscope itself")
    assert not (tmp_path / "entered").exists()


def test_permission_denied(make_target, tmp_path):
    t = make_target(FLAG_SETS["uts-ipc-net"])
    os.chmod(tmp_path, 0o777)
    out = run([*NOBODY, *nobody_nsscope(), "enter", str(t.pid), "--", "touch",
               f"{tmp_path}/entered"], cwd="/")
    one_line_error(out, 125, "permission denied")
    assert not (tmp_path / "entered").exists()


def test_unknown_container():
    one_line_error(enter("nsscope-test-no-such-container", "--", "true"), 125)


def test_cmd_not_found_in_the_target_root(make_target, rootfs):
    t = make_target(rooted(rootfs))
    assert shutil.which("python3")  # on the host, not in the busybox root
    one_line_error(enter(str(t.pid), "--", "python3", "-c", "pass"), 127, "python3", "not found")
    one_line_error(enter(str(t.pid), "--", shutil.which("nsenter")), 127, "not found")


def test_cmd_not_executable(make_target, rootfs):
    t = make_target(rooted(rootfs))
    one_line_error(enter(str(t.pid), "--", "/etc/motd"), 126, "/etc/motd", "cannot execute")
    one_line_error(enter(str(t.pid), "--", "/tmp"), 126, "cannot execute")


@pytest.mark.parametrize("args,words", [
    ((), ["missing TARGET"]),
    (("-x", "1"), ["unknown option -x"]),
    (("1", "--bogus"), ["unknown option --bogus"]),
    (("1", "--user=abc"), ["UID[:GID]"]),
    (("0",), ["not a pid"]),
    (("-5",), ["unknown option -5"]),
])
def test_bad_command_lines(args, words):
    one_line_error(enter(*args), 125, *words)


def test_captured_proc_is_refused(tmp_path):
    """A captured /proc (NSSCOPE_PROC, to look at a fixture) cannot be entered."""
    out = enter("1", "--", "true", env=dict(os.environ, NSSCOPE_PROC=str(tmp_path)))
    one_line_error(out, 125, "live host")


def test_help():
    out = enter("--help")
    assert out.returncode == 0 and out.stdout.startswith("usage: nsscope enter TARGET")
    assert enter("1", "-h").stdout == out.stdout




def _imported(argv: list[str]) -> set[str]:
    """The modules a command imports (python -X importtime), the interpreter's own too."""
    out = run([PYTHON, "-X", "importtime", *argv])
    assert out.returncode == 0, out.stderr
    return {line.split("|")[2].strip() for line in out.stderr.splitlines()
            if line.startswith("import time:") and "self [us]" not in line}


def test_a_real_enter_imports_only_what_it_needs(make_target, make_cgroup):
    """`nsscope enter` is timed against the bare interpreter (make bench): beyond what
    `python -I -c pass` loads, entering a process in cgroups of its own may import
    nsscope's own light modules and four small C or stdlib ones; not ctypes,
    collections, importlib, argparse, typing or enum (3, 1.5, 0.6, 5, 3 and 3 ms),
    nor the collector's model or nsscope.host.cgroups (~25 ms with dataclasses, re and
    socket): all of these once were there."""
    _, dirs = make_cgroup(pids_hierarchy())
    t = in_cgroups(make_target, dirs, cgroupns=False)
    floor = _imported(["-I", "-c", "pass"])
    ours = _imported([NSSCOPE, "enter", str(t.pid), "--", "true"])
    extra = {m for m in ours - floor if m != "nsscope" and not m.startswith("nsscope.")}
    assert extra <= {"__future__", "_ctypes", "errno", "fcntl", "termios"}, extra
    assert {"nsscope.actions.enter", "nsscope.host.mountinfo"} <= ours
    assert {m for m in ours if m.startswith("nsscope")} <= set(ENTER_PATH)

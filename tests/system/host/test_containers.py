"""Containers: real runtimes started here, fixture trees for those that cannot run here.

Each real runtime (runc, crun, podman, docker, lxc, systemd-nspawn, and the
unshare/bwrap/firejail sandboxes) is started once per test class, checked
against its own tool as the oracle (``runc state``, ``docker inspect``,
``lxc-info``, /proc), and torn down with everything it made: containers,
images, cgroups, mounts, network links, daemons. Kubernetes (containerd and
CRI-O, both cgroup drivers, all QoS classes) is read from the trees written by
``fixtures/make_k8s_fixtures.py``.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

import pytest

from nsscope.host import cgroups, targets
from nsscope.host.collector import collect
from nsscope.host.model import UNIFIED

from support import need_root, need_tool, run_nsscope
from support.runtimes import PODMAN_CONF, CgroupGuard, detached, sh, unmount_under
from support.cgroupfs import cpu_dir, quota, raw_quota, unified
from support.scenario import ns_ino, wait_for


def links() -> set[str]:
    return set(os.listdir("/sys/class/net"))


def cpu_cgroup(pid: int) -> str:
    """The cgroup that holds ``pid``'s CPU limit: the cpu hierarchy's on v1, the one
    ``0::`` path on v2 (cgroups(7))."""
    with open(f"/proc/{pid}/cgroup") as f:
        for line in f:
            hid, key, path = line.rstrip("\n").split(":", 2)
            if (hid == "0" and unified()) or "cpu" in key.split(","):
                return path
    raise AssertionError("no cpu hierarchy")


def nspid_init(pid: int) -> bool:
    """True if ``pid`` is the init (pid 1) of its innermost pid namespace (NSpid, proc(5))."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("NSpid:"):
                return line.split()[-1] == "1"
    return False


def ps_json() -> list[dict]:
    return json.loads(run_nsscope("ps", "--json", "-a", check=True).stdout)["containers"]


def one(entries: list[dict], name: str) -> dict:
    hits = [e for e in entries if e["name"] == name]
    assert len(hits) == 1, f"{name}: {len(hits)} entries in nsscope ps"
    return hits[0]


def check_by_name(name: str, pid: int, cid: str | None = None, throttle: bool = True) -> None:
    """`show`, `enter` and `throttle` take the container's name (and id prefix)."""
    data = json.loads(run_nsscope("show", name, "--json", check=True).stdout)
    assert data["pid"] == pid and data["container"]["name"] == name
    t = targets.resolve(name)
    # a sandbox has no cgroup of its own (it is where its launcher ran): it is acted on
    # as the process it is, never through the cgroup it shares (issue 13)
    own = None if data["container"]["sandbox"] else cpu_cgroup(pid)
    assert (t.pid, t.container, t.cgroup) == (pid, name, own)
    if cid is not None:
        assert targets.resolve(cid[:7]).pid == pid
    # enter: a command in its namespaces sees its network namespace
    out = run_nsscope("enter", name, "--", "readlink", "/proc/self/ns/net", check=True)
    assert out.stdout.strip() == os.readlink(f"/proc/{pid}/ns/net")
    if throttle:
        # throttle: the container's own cgroup gets the quota; --reset restores it
        path, before = cpu_cgroup(pid), raw_quota(cpu_cgroup(pid))
        run_nsscope("throttle", name, "0.25", check=True)
        assert cpu_cgroup(pid) == path and quota(path) == 0.25
        run_nsscope("throttle", name, "--reset", check=True)
        assert cpu_cgroup(pid) == path and raw_quota(path) == before


@pytest.fixture(scope="module")
def rootfs(tmp_path_factory) -> Path:
    """A busybox root filesystem (busybox-static), the RUNTIMES.md recipe."""
    need_root()
    busybox = need_tool("busybox")
    r = tmp_path_factory.mktemp("nsscope-test-rootfs")
    for d in ("bin", "sbin", "etc", "proc", "sys", "dev", "tmp", "root", "run", "var", "usr"):
        (r / d).mkdir()
    shutil.copy(busybox, r / "bin/busybox")
    for applet in sh(str(r / "bin/busybox"), "--list").stdout.split():
        if applet != "busybox":  # the list names busybox itself
            os.symlink("busybox", r / "bin" / applet)
    (r / "etc/os-release").write_text("ID=busybox\nNAME=busybox\n")  # systemd-nspawn wants it
    return r


def oci_bundle(base: Path, rootfs: Path, name: str, cgroup: str) -> Path:
    """A `runc spec` bundle running sleep with a 0.5-CPU quota in ``cgroup``."""
    b = base / name
    b.mkdir()
    sh("runc", "spec", "--bundle", str(b))
    spec = json.loads((b / "config.json").read_text())
    spec["root"] = {"path": str(rootfs), "readonly": True}
    spec["process"].update(args=["sleep", "1000"], terminal=False)
    spec["linux"]["cgroupsPath"] = cgroup
    spec["linux"]["resources"] = {"cpu": {"quota": 50000, "period": 100000}}
    (b / "config.json").write_text(json.dumps(spec))
    return b


@pytest.fixture(scope="class")
def runc(rootfs, tmp_path_factory):
    need_tool("runc")
    base = tmp_path_factory.mktemp("nsscope-test-runc")
    name = "nsscope-test-runc"
    guard = CgroupGuard("nsscope-test-runc")
    b = oci_bundle(base, rootfs, "bundle", f"/nsscope-test-runc/{name}")
    try:
        detached("runc", "run", "-d", "--bundle", str(b), name)
        pid = json.loads(sh("runc", "state", name).stdout)["pid"]
        yield {"name": name, "pid": pid, "rootfs": str(rootfs), "ps": ps_json()}
    finally:
        sh("runc", "delete", "-f", name, check=False)
        assert name not in sh("runc", "list", "-q").stdout.split()
        guard.cleanup()


@pytest.mark.v2
class TestRunc:
    def test_listed(self, runc):
        e = one(runc["ps"], runc["name"])
        assert (e["runtime"], e["id"], e["pid"], e["state"]) == \
            ("runc", runc["name"], runc["pid"], "running")
        assert e["cgroup"] == cpu_cgroup(runc["pid"]) == f"/nsscope-test-runc/{runc['name']}"
        assert e["cpu_limit"] == quota(e["cgroup"]) == 0.5
        assert e["rootfs"] == runc["rootfs"]
        assert "net" not in e["shares_host"] and "user" in e["shares_host"]

    def test_by_name(self, runc):
        check_by_name(runc["name"], runc["pid"])


@pytest.fixture(scope="class")
def crun(rootfs, tmp_path_factory):
    need_tool("crun")
    need_tool("runc")  # for `runc spec`
    base = tmp_path_factory.mktemp("nsscope-test-crun")
    name = "nsscope-test-crun"
    guard = CgroupGuard("nsscope-test-crun")
    b = oci_bundle(base, rootfs, "bundle", f"/nsscope-test-crun/{name}")
    cmd = ["crun", "run", "-d", "--bundle", str(b), name]
    if cgroups.detect_mode() == "hybrid":
        # crun fails on a hybrid host whose cgroup2 has only hugetlb: hide the
        # unified mount in a private mount namespace (RUNTIMES.md)
        cmd = ["unshare", "-m", "--propagation", "private", "sh", "-c",
               'umount /sys/fs/cgroup/unified && exec "$@"', "sh", *cmd]
    try:
        detached(*cmd)
        pid = json.loads(sh("crun", "state", name).stdout)["pid"]
        yield {"name": name, "pid": pid, "ps": ps_json()}
    finally:
        sh("crun", "delete", "-f", name, check=False)
        assert name not in sh("crun", "list", "-q").stdout.split()
        guard.cleanup()


@pytest.mark.v2
class TestCrun:
    def test_listed(self, crun):
        e = one(crun["ps"], crun["name"])
        assert (e["runtime"], e["pid"]) == ("crun", crun["pid"])
        assert e["cgroup"] == cpu_cgroup(crun["pid"]) == f"/nsscope-test-crun/{crun['name']}"
        assert e["cpu_limit"] == quota(e["cgroup"]) == 0.5

    def test_by_name(self, crun):
        check_by_name(crun["name"], crun["pid"])


@pytest.fixture(scope="class")
def podman(rootfs):
    need_tool("podman")
    # podman refuses a runroot longer than 50 characters: a short dir of our own
    base = Path(tempfile.mkdtemp(prefix="nsscope-test-pm", dir="/tmp"))
    (base / "containers.conf").write_text(PODMAN_CONF)
    env = dict(os.environ, CONTAINERS_CONF=str(base / "containers.conf"))
    # private storage: nothing shared with another podman user of this host
    pm = ["podman", "--root", str(base / "root"), "--runroot", str(base / "run"),
          "--tmpdir", str(base / "tmp"), "--storage-driver", "vfs"]
    name, image = "nsscope-test-podman", "localhost/nsscope-test-bb"
    guard = CgroupGuard("nsscope-test-podman", "libpod_parent")
    try:
        sh("sh", "-c", f'r=$1; shift; tar -C "$r" -c . | "$@" import - {image}', "sh",
           str(rootfs), *pm, env=env)
        cid = sh(*pm, "run", "-d", "--name", name, "--network", "none", "--cpus", "0.5",
                 "--cgroup-parent", "/nsscope-test-podman", image, "sleep", "1000",
                 env=env).stdout.strip()
        pid = int(sh(*pm, "inspect", "-f", "{{.State.Pid}}", name, env=env).stdout)
        yield {"name": name, "id": cid, "pid": pid, "image": image, "ps": ps_json()}
    finally:
        sh(*pm, "rm", "-f", "-t", "0", name, env=env, check=False)
        sh(*pm, "rmi", "-f", image, env=env, check=False)
        assert sh(*pm, "ps", "-aq", env=env).stdout.strip() == ""
        assert sh(*pm, "images", "-q", env=env).stdout.strip() == ""
        unmount_under(base)
        guard.cleanup()
        shutil.rmtree(base, ignore_errors=True)


class TestPodman:
    def test_listed(self, podman):
        e = one(podman["ps"], podman["name"])
        assert (e["runtime"], e["id"], e["short_id"], e["pid"]) == \
            ("podman", podman["id"], podman["id"][:12], podman["pid"])
        assert e["cgroup"] == cpu_cgroup(podman["pid"]) == \
            f"/nsscope-test-podman/libpod-{podman['id']}"
        assert e["image"] == podman["image"] + ":latest"
        assert e["cpu_limit"] == quota(e["cgroup"]) == 0.5

    def test_by_name(self, podman):
        check_by_name(podman["name"], podman["pid"], podman["id"])


@pytest.fixture(scope="class")
def docker(rootfs, tmp_path_factory):
    need_tool("dockerd")
    client = "/usr/bin/docker"  # Debian's client, matching Debian's daemon (RUNTIMES.md)
    if not os.access(client, os.X_OK):
        need_tool("docker.io's /usr/bin/docker")
    base = tmp_path_factory.mktemp("nsscope-test-docker")
    sock = base / "docker.sock"
    env = dict(os.environ, DOCKER_HOST=f"unix://{sock}", DOCKER_CONFIG=str(base / "cfg"))
    guard = CgroupGuard("docker", "nsscope-test-docker")
    links_before = links()
    log = open(base / "dockerd.log", "w")  # noqa: SIM115 (open for the daemon's life)
    # no bridge, no iptables: no network residue (RUNTIMES.md); private roots so
    # nothing is shared with another dockerd of this host
    daemon = subprocess.Popen(
        ["dockerd", "--bridge=none", "--iptables=false", "--ip6tables=false",
         "--data-root", str(base / "data"), "--exec-root", str(base / "exec"),
         "--pidfile", str(base / "dockerd.pid"), "-H", f"unix://{sock}",
         "--storage-driver", "vfs"], stdout=log, stderr=subprocess.STDOUT)
    dk = [client]
    image = "nsscope-test-bb"
    try:
        wait_for(lambda: sh(*dk, "info", env=env, check=False).returncode == 0, 60, "dockerd")
        sh("sh", "-c", f'tar -C "$1" -c . | {client} import - {image}', "sh", str(rootfs),
           env=env)
        web = sh(*dk, "run", "-d", "--name", "nsscope-test-web", "--network", "none",
                 "--cpus", "0.5", image, "sleep", "1000", env=env).stdout.strip()
        hostnet = sh(*dk, "run", "-d", "--name", "nsscope-test-hostnet", "--network", "host",
                     "--cgroup-parent", "/nsscope-test-docker", image, "sleep", "1000",
                     env=env).stdout.strip()
        pids = {n: int(sh(*dk, "inspect", "-f", "{{.State.Pid}}", n, env=env).stdout)
                for n in ("nsscope-test-web", "nsscope-test-hostnet")}
        yield {"ids": {"nsscope-test-web": web, "nsscope-test-hostnet": hostnet},
               "pids": pids, "image": image, "env": env, "ps": ps_json()}
    finally:
        sh(*dk, "rm", "-f", "nsscope-test-web", "nsscope-test-hostnet", env=env, check=False)
        sh(*dk, "rmi", "-f", image, env=env, check=False)
        assert sh(*dk, "ps", "-aq", env=env, check=False).stdout.strip() == ""
        assert sh(*dk, "images", "-q", env=env, check=False).stdout.strip() == ""
        daemon.terminate()
        try:
            daemon.wait(30)
        except subprocess.TimeoutExpired:
            daemon.kill()
            daemon.wait(10)
        log.close()
        unmount_under(base)  # the netns holder dockerd bind-mounts under exec-root/netns
        guard.cleanup()
        assert links() == links_before
        shutil.rmtree(base, ignore_errors=True)


class TestDocker:
    def test_default_cgroupfs_layout(self, docker):
        name = "nsscope-test-web"
        e, cid, pid = one(docker["ps"], name), docker["ids"][name], docker["pids"][name]
        assert (e["runtime"], e["id"], e["pid"], e["image"]) == ("docker", cid, pid,
                                                                  docker["image"])
        assert e["cgroup"] == cpu_cgroup(pid) == f"/docker/{cid}"
        assert e["cpu_limit"] == quota(e["cgroup"]) == 0.5
        assert e["shares_host"] == ["cgroup", "time", "user"]

    def test_cgroup_parent_and_host_network(self, docker):
        name = "nsscope-test-hostnet"
        e, cid, pid = one(docker["ps"], name), docker["ids"][name], docker["pids"][name]
        assert (e["runtime"], e["id"], e["pid"]) == ("docker", cid, pid)
        assert e["cgroup"] == cpu_cgroup(pid) == f"/nsscope-test-docker/{cid}"
        assert ns_ino(pid, "net") == ns_ino(os.getpid(), "net")
        assert "net" in e["shares_host"] and e["cpu_limit"] is None

    def test_by_name(self, docker):
        for name, pid in docker["pids"].items():
            check_by_name(name, pid, docker["ids"][name])

    def test_paused(self, docker):
        name = "nsscope-test-web"
        cg = f"/sys/fs/cgroup/freezer/docker/{docker['ids'][name]}/freezer.state"
        sh("/usr/bin/docker", "pause", name, env=docker["env"])
        try:
            assert Path(cg).read_text().strip() == "FROZEN"  # the kernel's word
            assert one(ps_json(), name)["state"] == "paused"
        finally:
            sh("/usr/bin/docker", "unpause", name, env=docker["env"])
        assert one(ps_json(), name)["state"] == "running"


@pytest.fixture(scope="class")
def lxc(tmp_path_factory):
    need_root()
    need_tool("lxc-create")
    need_tool("busybox")  # the busybox template copies it
    base = tmp_path_factory.mktemp("nsscope-test-lxc")
    lxcpath, name = str(base / "lxc"), "nsscope-test-lxc"
    (base / "c.conf").write_text("lxc.net.0.type = empty\nlxc.apparmor.profile = unconfined\n")
    guard = CgroupGuard("lxc.pivot", f"lxc.payload.{name}", f"lxc.monitor.{name}")
    try:
        sh("lxc-create", "-P", lxcpath, "-t", "busybox", "-n", name, "-f", str(base / "c.conf"))
        detached("lxc-start", "-P", lxcpath, "-n", name)
        sh("lxc-wait", "-P", lxcpath, "-n", name, "-s", "RUNNING", "-t", "30")
        pid = int(sh("lxc-info", "-P", lxcpath, "-n", name, "-p", "-H").stdout)
        wait_for(lambda: len(Path(f"/proc/{pid}/task/{pid}/children").read_text().split()) >= 1,
                 10, "the busybox init's children")
        yield {"name": name, "pid": pid, "lxcpath": lxcpath, "ps": ps_json()}
    finally:
        sh("lxc-stop", "-P", lxcpath, "-k", "-n", name, check=False)
        sh("lxc-destroy", "-P", lxcpath, "-n", name, check=False)
        assert name not in sh("lxc-ls", "-P", lxcpath).stdout.split()
        guard.cleanup()


class TestLxc:
    def test_listed(self, lxc):
        e = one(lxc["ps"], lxc["name"])
        assert (e["runtime"], e["id"], e["pid"]) == ("lxc", lxc["name"], lxc["pid"])
        assert e["cgroup"] == cpu_cgroup(lxc["pid"]) == f"/lxc.payload.{lxc['name']}"
        # every process of the container, init and the ones it started
        procs = Path(f"/sys/fs/cgroup/cpu{e['cgroup']}/cgroup.procs").read_text().split()
        assert len(e["pids"]) > 1 and set(e["pids"]) >= {int(p) for p in procs}
        assert e["rootfs"] == f"{lxc['lxcpath']}/{lxc['name']}/rootfs"

    def test_by_name(self, lxc):
        check_by_name(lxc["name"], lxc["pid"])


@pytest.fixture(scope="class")
def nspawn(rootfs, tmp_path_factory):
    need_tool("systemd-nspawn")
    base = tmp_path_factory.mktemp("nsscope-test-nspawn")
    root = base / "root"
    shutil.copytree(rootfs, root, symlinks=True)  # nspawn writes into its tree
    name, cg = "nsscope-test-nspawn", "nsscope-test-nspawn"
    guard = CgroupGuard(cg)
    # without systemd as PID 1 nspawn puts payload/ and supervisor/ below the
    # caller's cgroup: start it from our own (RUNTIMES.md)
    procs_files = []
    for h in cgroups.hierarchies():
        if h.key in (UNIFIED, "name=systemd", "cpu", "cpuacct", "memory", "pids"):
            os.mkdir(os.path.join(h.mountpoint, cg))
            procs_files.append(os.path.join(h.mountpoint, cg, "cgroup.procs"))
    launcher = subprocess.Popen(
        ["sh", "-c", 'for f in "$@"; do echo $$ > "$f"; done; exec systemd-nspawn '
         f'--register=no --keep-unit -q -D {root} -M {name} /bin/sleep 1000', "sh",
         *procs_files], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    payload = None
    try:
        def child():
            try:
                kids = Path(f"/proc/{launcher.pid}/task/{launcher.pid}/children").read_text()
            except OSError:
                return None
            for k in kids.split():
                if Path(f"/proc/{k}/cmdline").read_bytes().startswith(b"/bin/sleep"):
                    return int(k)
            return None
        payload = wait_for(child, 20, "the nspawn payload")
        yield {"name": name, "pid": payload, "root": str(root), "ps": ps_json()}
    finally:
        if payload is not None:
            os.kill(payload, signal.SIGKILL)  # its pid-namespace init ignores SIGTERM
        elif launcher.poll() is None:
            launcher.kill()
        launcher.wait(30)
        guard.cleanup()


class TestNspawn:
    def test_listed(self, nspawn):
        e = one(nspawn["ps"], nspawn["name"])
        assert (e["runtime"], e["pid"], e["rootfs"]) == \
            ("systemd-nspawn", nspawn["pid"], nspawn["root"])
        # nspawn's own cgroup for the payload, in the named/unified hierarchies
        assert e["cgroup"] == "/nsscope-test-nspawn/payload"
        with open(f"/proc/{nspawn['pid']}/cgroup") as f:
            assert ":/nsscope-test-nspawn/payload\n" in f.read()
        assert "net" in e["shares_host"]  # no --private-network

    def test_by_name(self, nspawn):
        # its cpu cgroup is the launcher's (nspawn makes payload/ only in the named
        # and unified hierarchies): enter, but no throttle test
        check_by_name(nspawn["name"], nspawn["pid"], throttle=False)


@pytest.fixture(scope="class")
def sandboxes():
    need_root()
    cmds = {
        "unshare": [need_tool("unshare"), "--fork", "--kill-child", "--pid", "--mount", "--uts",
                    "--ipc", "--net", "--mount-proc", "sleep", "1001"],
        "bwrap": [need_tool("bwrap"), "--unshare-all", "--die-with-parent", "--ro-bind", "/",
                  "/", "--proc", "/proc", "--dev", "/dev", "sleep", "1002"],
        "firejail": [need_tool("firejail"), "--quiet", "--noprofile", "--net=none",
                     "--name=nsscope-test-fj", "sleep", "1003"],
    }
    started = {k: subprocess.Popen(v, start_new_session=True, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL) for k, v in cmds.items()}

    def sleeper(arg: str) -> int | None:
        """The pid running exactly `sleep ARG` (the launchers' own argv only ends so)."""
        for d in os.listdir("/proc"):
            try:
                if d.isdigit() and Path(f"/proc/{d}/cmdline").read_bytes() == \
                        f"sleep\0{arg}\0".encode():
                    return int(d)
            except OSError:
                continue
        return None
    try:
        sleeps = {k: wait_for(lambda a=cmd[-1]: sleeper(a), 20, f"{k}'s sleep")
                  for k, cmd in cmds.items()}
        yield {"sleeps": sleeps, "ps": ps_json()}
    finally:
        for p in started.values():
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            p.wait(10)


class TestSandboxes:
    def _entry(self, sandboxes, launcher):
        sleep = sandboxes["sleeps"][launcher]
        hits = [e for e in sandboxes["ps"] if sleep in e["pids"]]
        assert len(hits) == 1
        e = hits[0]
        assert e["sandbox"] and e["runtime"] == launcher
        # the main process is the init of the sandbox's pid namespace, with the sleep
        assert nspid_init(e["pid"]) and ns_ino(e["pid"], "pid") == ns_ino(sleep, "pid")
        assert e["cgroup"] == cpu_cgroup(e["pid"])
        assert e["id"] == str(ns_ino(e["pid"], "pid"))
        return e

    def test_unshare(self, sandboxes):
        e = self._entry(sandboxes, "unshare")
        assert e["name"] == f"unshare-{e['pid']}" and e["pid"] == sandboxes["sleeps"]["unshare"]
        # unshare itself (new mnt/net/…, host pid namespace) belongs to the sandbox too
        assert len(e["pids"]) == 2 and e["shares_host"] == ["cgroup", "time", "user"]
        check_by_name(e["name"], e["pid"], throttle=False)
        snap = collect(fds=False)
        assert snap.container_of(sandboxes["sleeps"]["unshare"]).name == e["name"]
        assert snap.container_of(os.getpid()) is None

    def test_bwrap(self, sandboxes):
        e = self._entry(sandboxes, "bwrap")
        assert "user" not in e["shares_host"]  # --unshare-all includes a user namespace
        check_by_name(e["name"], e["pid"], throttle=False)

    def test_firejail(self, sandboxes):
        e = self._entry(sandboxes, "firejail")
        assert e["name"] == "nsscope-test-fj"
        check_by_name(e["name"], e["pid"], throttle=False)


@pytest.fixture(scope="class")
def own():
    need_root()
    name = "nsscope-test-own"
    out = run_nsscope("run", "-d", "--name", name, "--cpus", "0.5", "sleep", "1000", check=True)
    cid = out.stdout.split()[-1]
    try:
        procs = cpu_dir(f"/nsscope/{cid}") / "cgroup.procs"
        pid = wait_for(lambda: procs.exists() and procs.read_text().split(), 10, "its pid")
        yield {"name": name, "id": cid, "pid": int(pid[0]), "ps": ps_json()}
    finally:
        run_nsscope("rm", "-f", name)
        assert not cpu_dir(f"/nsscope/{cid}").exists()


@pytest.mark.v2
class TestOwn:
    def test_listed(self, own):
        e = one(own["ps"], own["name"])
        assert (e["runtime"], e["id"], e["pid"]) == ("nsscope", own["id"], own["pid"])
        assert e["cgroup"] == cpu_cgroup(own["pid"]) == f"/nsscope/{own['id']}"
        assert e["cpu_limit"] == quota(e["cgroup"]) == 0.5

    def test_by_name(self, own):
        check_by_name(own["name"], own["pid"], own["id"])

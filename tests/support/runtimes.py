"""Real container runtimes for tests (the recipes of /work/shared/RUNTIMES.md): a busybox
root, runc/crun containers, a private dockerd, a private podman; each removes all
it made (containers, images, cgroups, mounts, daemons)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from nsscope.host import cgroups

from support import need_tool
from support.scenario import wait_for


def sh(*args: str, check: bool = True, **kw) -> subprocess.CompletedProcess:
    kw.setdefault("capture_output", True)
    kw.setdefault("text", True)
    kw.setdefault("timeout", 120)
    out = subprocess.run(list(args), check=False, **kw)
    if check and out.returncode != 0:
        raise AssertionError(f"{' '.join(args)} -> {out.returncode}: {out.stderr.strip()}")
    return out


def detached(*args: str) -> None:
    """A command that leaves a container behind (runc run -d): it inherits stdout and
    stderr, so a pipe would never reach EOF."""
    with open(os.devnull, "rb") as null_in, open(os.devnull, "wb") as null_out, \
            tempfile.TemporaryFile() as err:
        rc = subprocess.run(list(args), check=False, stdin=null_in, stdout=null_out, stderr=err,
                            timeout=120).returncode
        if rc != 0:
            err.seek(0)
            raise AssertionError(f"{' '.join(args)} -> {rc}: {err.read().decode().strip()}")


def busybox_rootfs(r: Path) -> Path:
    """A busybox root filesystem in ``r`` (busybox-static): no /bin/bash in it."""
    busybox = need_tool("busybox")
    r.mkdir(parents=True, exist_ok=True)
    for d in ("bin", "sbin", "etc", "proc", "sys", "dev", "tmp", "root", "run", "var", "usr"):
        (r / d).mkdir(exist_ok=True)
    shutil.copy(busybox, r / "bin/busybox")
    for applet in sh(str(r / "bin/busybox"), "--list").stdout.split():
        if applet != "busybox" and not (r / "bin" / applet).exists():
            os.symlink("busybox", r / "bin" / applet)
    (r / "etc/passwd").write_text("root:x:0:0:root:/root:/bin/sh\n")
    return r


class CgroupGuard:
    """Top-level cgroups a runtime creates (in every hierarchy): removed afterwards,
    only those that did not exist before."""

    def __init__(self, *names: str) -> None:
        self.names = names
        self.before = {(h.mountpoint, n) for h in cgroups.hierarchies() for n in names
                       if os.path.isdir(os.path.join(h.mountpoint, n))}

    def mine(self) -> list[str]:
        return [os.path.join(h.mountpoint, n) for h in cgroups.hierarchies() for n in self.names
                if (h.mountpoint, n) not in self.before
                and os.path.isdir(os.path.join(h.mountpoint, n))]

    def cleanup(self) -> None:
        for _ in range(50):
            for top in self.mine():
                for d, _, _ in sorted(os.walk(top), key=lambda w: -w[0].count("/")):
                    try:
                        os.rmdir(d)
                    except OSError:
                        pass
            if not self.mine():
                return
            time.sleep(0.1)
        raise AssertionError(f"cgroups left behind: {self.mine()}")


def unmount_under(base: Path) -> None:
    with open("/proc/self/mountinfo") as f:
        points = [line.split()[4] for line in f]
    for point in sorted((p for p in points if p.startswith(str(base))), key=len, reverse=True):
        subprocess.run(["umount", "-l", point], check=False)


class Oci:
    """runc or crun containers from one busybox root, each in cgroup /<parent>/<id>."""

    def __init__(self, base: Path, rootfs: Path, parent: str, runtime: str = "runc") -> None:
        need_tool(runtime)
        need_tool("runc")  # `runc spec` writes the bundle for both
        self.base, self.rootfs, self.parent, self.runtime = base, rootfs, parent, runtime
        self.ids: list[str] = []

    def run(self, cid: str, args: tuple[str, ...] = ("sleep", "1000"),
            quota: int | None = None) -> int:
        b = self.base / f"bundle-{cid}"
        b.mkdir()
        sh("runc", "spec", "--bundle", str(b))
        spec = json.loads((b / "config.json").read_text())
        spec["root"] = {"path": str(self.rootfs), "readonly": True}
        spec["process"].update(args=list(args), terminal=False)
        spec["linux"]["cgroupsPath"] = f"/{self.parent}/{cid}"
        if quota is not None:
            spec["linux"]["resources"] = {"cpu": {"quota": quota, "period": 100000}}
        (b / "config.json").write_text(json.dumps(spec))
        cmd = [self.runtime, "run", "-d", "--bundle", str(b), cid]
        if self.runtime == "crun" and cgroups.detect_mode() == "hybrid":
            # crun fails on a hybrid host whose cgroup2 has only hugetlb: hide the
            # unified mount in a private mount namespace (RUNTIMES.md)
            cmd = ["unshare", "-m", "--propagation", "private", "sh", "-c",
                   'umount /sys/fs/cgroup/unified && exec "$@"', "sh", *cmd]
        self.ids.append(cid)
        detached(*cmd)
        return int(json.loads(sh(self.runtime, "state", cid).stdout)["pid"])

    def close(self) -> None:
        for cid in self.ids:
            sh(self.runtime, "delete", "-f", cid, check=False)
        left = sh(self.runtime, "list", "-q", check=False).stdout.split()
        assert not set(self.ids) & set(left), f"{self.runtime} containers left: {left}"


class Dockerd:
    """A dockerd of the test's own (private data, exec root and socket; no bridge, no
    iptables: no network residue), with a busybox image."""

    client = "/usr/bin/docker"  # Debian's client, matching Debian's daemon (RUNTIMES.md)
    image = "nsscope-test-bb"

    def __init__(self, base: Path, rootfs: Path) -> None:
        need_tool("dockerd")
        if not os.access(self.client, os.X_OK):
            need_tool("docker.io's /usr/bin/docker")
        self.base = base
        sock = base / "docker.sock"
        self.env = dict(os.environ, DOCKER_HOST=f"unix://{sock}",
                        DOCKER_CONFIG=str(base / "cfg"))
        self.guard = CgroupGuard("docker")
        self.log = open(base / "dockerd.log", "w")  # noqa: SIM115 (the daemon's life)
        self.daemon = subprocess.Popen(
            ["dockerd", "--bridge=none", "--iptables=false", "--ip6tables=false",
             "--data-root", str(base / "data"), "--exec-root", str(base / "exec"),
             "--pidfile", str(base / "dockerd.pid"), "-H", f"unix://{sock}",
             "--storage-driver", "vfs"], stdout=self.log, stderr=subprocess.STDOUT)
        try:
            wait_for(lambda: self.cli("info", check=False).returncode == 0, 60, "dockerd")
            sh("sh", "-c", f'tar -C "$1" -c . | {self.client} import - {self.image}', "sh",
               str(rootfs), env=self.env)
        except BaseException:
            self.close()
            raise

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return sh(self.client, *args, env=self.env, check=check)

    def run(self, name: str, *args: str) -> tuple[str, int]:
        """(id, pid) of a new container running ``args`` (default sleep)."""
        cid = self.cli("run", "-d", "--name", name, "--network", "none", *args, self.image,
                       "sleep", "1000").stdout.strip()
        return cid, int(self.cli("inspect", "-f", "{{.State.Pid}}", name).stdout)

    def close(self) -> None:
        ids = self.cli("ps", "-aq", check=False).stdout.split()
        if ids:
            self.cli("rm", "-f", *ids, check=False)
        self.cli("rmi", "-f", self.image, check=False)
        self.daemon.terminate()
        try:
            self.daemon.wait(30)
        except subprocess.TimeoutExpired:
            self.daemon.kill()
            self.daemon.wait(10)
        self.log.close()
        unmount_under(self.base)  # the netns holder dockerd bind-mounts under exec-root
        self.guard.cleanup()


PODMAN_CONF = """[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
"""


class Podman:
    """podman with storage of the test's own, containers under /<parent>."""

    image = "localhost/nsscope-test-bb"

    def __init__(self, rootfs: Path, parent: str) -> None:
        need_tool("podman")
        # podman refuses a runroot longer than 50 characters: a short dir of our own
        self.base = Path(tempfile.mkdtemp(prefix="nsscope-test-pm", dir="/tmp"))
        (self.base / "containers.conf").write_text(PODMAN_CONF)
        self.env = dict(os.environ, CONTAINERS_CONF=str(self.base / "containers.conf"))
        self.pm = ["podman", "--root", str(self.base / "root"), "--runroot",
                   str(self.base / "run"), "--tmpdir", str(self.base / "tmp"),
                   "--storage-driver", "vfs"]
        self.parent = parent
        self.guard = CgroupGuard(parent, "libpod_parent")
        try:
            sh("sh", "-c", f'r=$1; shift; tar -C "$r" -c . | "$@" import - {self.image}', "sh",
               str(rootfs), *self.pm, env=self.env)
        except BaseException:
            self.close()
            raise

    def run(self, name: str) -> tuple[str, int]:
        cid = sh(*self.pm, "run", "-d", "--name", name, "--network", "none",
                 "--cgroup-parent", f"/{self.parent}", self.image, "sleep", "1000",
                 env=self.env).stdout.strip()
        pid = int(sh(*self.pm, "inspect", "-f", "{{.State.Pid}}", name, env=self.env).stdout)
        return cid, pid

    def close(self) -> None:
        # pods first: a pod's infra container is removed with its pod only
        sh(*self.pm, "pod", "rm", "-a", "-f", env=self.env, check=False)
        ids = sh(*self.pm, "ps", "-aq", env=self.env, check=False).stdout.split()
        if ids:
            sh(*self.pm, "rm", "-f", "-t", "0", *ids, env=self.env, check=False)
        sh(*self.pm, "rmi", "-f", self.image, env=self.env, check=False)
        unmount_under(self.base)
        self.guard.cleanup()
        shutil.rmtree(self.base, ignore_errors=True)

"""A dockerd of a test's own (the recipe of /work/shared/RUNTIMES.md).

``Docker(base)``: starts ``dockerd`` with no bridge and no iptables (no network
residue), its data and exec roots under ``base``, the vfs storage driver, and a
socket of its own, so nothing is shared with another dockerd of this host.
``image(rootfs)`` imports a directory as an image; ``run(...)`` is ``docker run``;
``close()`` removes its containers and images, stops the daemon, unmounts what it
left under ``base`` and removes the ``docker`` cgroups it made (those that were
not there before). tests/system/host/test_containers.py starts one the same way.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

from nsscope.host import cgroups

from support import need_tool
from support.scenario import wait_for

CLIENT = "/usr/bin/docker"  # Debian's client, matching Debian's daemon (RUNTIMES.md)


def _docker_cgroups() -> set[str]:
    return {os.path.join(h.mountpoint, "docker") for h in cgroups.hierarchies()
            if os.path.isdir(os.path.join(h.mountpoint, "docker"))}


class Docker:
    def __init__(self, base: Path) -> None:
        need_tool("dockerd")
        if not os.access(CLIENT, os.X_OK):
            need_tool("docker.io's /usr/bin/docker")
        self.base = base
        self.env = dict(os.environ, DOCKER_HOST=f"unix://{base / 'docker.sock'}",
                        DOCKER_CONFIG=str(base / "cfg"))
        self.images: list[str] = []
        self._cgroups_before = _docker_cgroups()
        self._log = open(base / "dockerd.log", "w")  # noqa: SIM115 (the daemon's life)
        self.daemon = subprocess.Popen(
            ["dockerd", "--bridge=none", "--iptables=false", "--ip6tables=false",
             "--data-root", str(base / "data"), "--exec-root", str(base / "exec"),
             "--pidfile", str(base / "dockerd.pid"), "-H", self.env["DOCKER_HOST"],
             "--storage-driver", "vfs"], stdout=self._log, stderr=subprocess.STDOUT)
        try:
            wait_for(lambda: self.cli("info", check=False).returncode == 0, 60, "dockerd")
        except BaseException:
            self.close()
            raise

    def cli(self, *args: str, check: bool = True, timeout: float = 120
            ) -> subprocess.CompletedProcess:
        r = subprocess.run([CLIENT, *args], capture_output=True, text=True, env=self.env,
                           timeout=timeout, check=False)
        if check and r.returncode != 0:
            raise AssertionError(f"docker {' '.join(args)} -> {r.returncode}: {r.stderr}")
        return r

    def image(self, rootfs: str, name: str) -> str:
        subprocess.run(["sh", "-c", f'tar -C "$1" -c . | {CLIENT} import - "$2" >/dev/null',
                        "sh", rootfs, name], env=self.env, check=True, timeout=300)
        self.images.append(name)
        return name

    def version(self) -> str:
        return self.cli("version", "-f", "{{.Server.Version}}").stdout.strip()

    def close(self) -> None:
        try:
            if self.daemon.poll() is None:
                ids = self.cli("ps", "-aq", check=False).stdout.split()
                if ids:
                    self.cli("rm", "-f", *ids, check=False)
                for image in self.images:
                    self.cli("rmi", "-f", image, check=False)
                self.daemon.terminate()
                try:
                    self.daemon.wait(30)
                except subprocess.TimeoutExpired:
                    self.daemon.kill()
                    self.daemon.wait(10)
        finally:
            self._log.close()
            with open("/proc/self/mountinfo") as f:
                points = [line.split()[4] for line in f]
            for point in sorted((p for p in points if p.startswith(str(self.base))), key=len,
                                reverse=True):
                subprocess.run(["umount", "-l", point], check=False)
            for d in _docker_cgroups() - self._cgroups_before:
                for _ in range(50):
                    for sub, _, _ in sorted(os.walk(d), key=lambda w: -w[0].count("/")):
                        try:
                            os.rmdir(sub)
                        except OSError:
                            pass
                    if not os.path.isdir(d):
                        break
                    time.sleep(0.1)
            shutil.rmtree(self.base, ignore_errors=True)

"""Inside the VM: the scene of tests/fixtures/scene-v2, a host as an SRE meets one.

- containerd (containerd.service), with a shim per docker container and one
  for the pod, all in /system.slice/containerd.service;
- docker containers (system.slice/docker-<id>.scope, containerd namespace moby):
  ``web`` (nginx: master and workers, 256 MiB), ``db`` (postgres and its
  background processes, as user postgres, 512 MiB), ``batch`` (``stress --cpu 1``
  under ``--cpus 0.2``: a busy loop held to 20 %);
- a Burstable pod ``shop/api-6d8f9c7b5-x2kq9``: its pause sandbox and the ``api``
  container (``python app.py``: requests 100m/128Mi, limits 500m/256Mi), under
  kubepods.slice, containerd namespace k8s.io;
- a bubblewrap sandbox (``bwrap --unshare-all``: its own user, pid, net, uts,
  ipc, mount and cgroup namespaces) serving a directory with Python's
  http.server, started from root's session scope.
"""

from __future__ import annotations

import os
import time

from hostscene import docker, kube
from hostscene.runtime import (
    SERVICE_ENV,
    cmdline,
    comm,
    ctr,
    log,
    make_cgroup,
    pids_in,
    prepare_host,
    spawn_daemon,
    start_containerd,
    wait_for,
)

PG_BIN = "/usr/lib/postgresql/15/bin"

DOCKER = [
    docker.DockerContainer(
        name="web", image="nginx:1.22", cmd=["nginx", "-g", "daemon off;"],
        memory=256 << 20, stop_signal="SIGQUIT", exposed=("80/tcp",)),
    docker.DockerContainer(
        name="db", image="postgres:15", cmd=["postgres"], user="100:102",
        # the official image's ENV: the server binaries on PATH, PGDATA
        env=[f"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:{PG_BIN}",
             "PGDATA=/var/lib/postgresql/data", "LANG=C.UTF-8"],
        memory=512 << 20, stop_signal="SIGINT", exposed=("5432/tcp",)),
    docker.DockerContainer(
        name="batch", image="stress:1.0.4", cmd=["stress", "--cpu", "1"],
        nano_cpus=200_000_000, memory=64 << 20, pids_limit=64),
]

POD = kube.Pod(
    namespace="shop", name="api-6d8f9c7b5-x2kq9", sandbox_image="registry.k8s.io/pause:3.6",
    containers=[kube.PodContainer(
        name="api", image="registry.example.com/shop/api:1.4.2",
        cpu_request=100, cpu_limit=500, memory_request=128 << 20, memory_limit=256 << 20,
        env=["LOG_LEVEL=info", "ORDERS_DB=postgres://db:5432/shop"])])

SESSION = "/user.slice/user-0.slice/session-1.scope"
SANDBOX_ARGV = ["bwrap", "--unshare-all", "--hostname", "preview",
                "--ro-bind", "/usr", "/usr", "--symlink", "usr/bin", "/bin",
                "--symlink", "usr/lib", "/lib", "--symlink", "usr/lib64", "/lib64",
                "--symlink", "usr/sbin", "/sbin", "--proc", "/proc", "--dev", "/dev",
                "--tmpfs", "/tmp", "--dir", "/srv/site", "--chdir", "/srv/site",
                "python3", "-m", "http.server", "--bind", "127.0.0.1", "8000"]


def memory_total() -> int:
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
    raise SystemExit("hostscene: no MemTotal in /proc/meminfo")


def _started(cgroup: str, want: dict[str, int]) -> bool:
    """``want``: {comm or argv[0] prefix: how many} present in ``cgroup``."""
    seen: dict[str, int] = {}
    for pid in pids_in(cgroup):
        names = {comm(pid), " ".join(cmdline(pid))}
        for w in want:
            if any(n.startswith(w) for n in names):
                seen[w] = seen.get(w, 0) + 1
    return all(seen.get(w, 0) >= n for w, n in want.items())


def build(images: str) -> None:
    """Start everything; return once every process of the scene runs."""
    prepare_host()
    make_cgroup("/system.slice")
    make_cgroup(SESSION)
    start_containerd()
    docker.prepare_image_layer(os.path.join(images, "docker-layer.ext4"))
    for name in ("pause.tar", "api.tar"):
        # as the CRI plugin pulls them: into containerd's k8s.io namespace, unpacked
        # by the overlayfs snapshotter
        ctr("k8s.io", "images", "import", "--all-platforms", os.path.join(images, name))
    mem = memory_total()
    kube.node_cgroups(mem)
    for c in DOCKER:
        docker.run(c)
    kube.run_pod(POD, mem)
    spawn_daemon(SANDBOX_ARGV, SESSION, {**SERVICE_ENV, "HOME": "/root"})
    web, db, batch = DOCKER
    wait_for("nginx workers", lambda: _started(web.cgroup, {"nginx: worker process": 2}))
    wait_for("postgres", lambda: _started(db.cgroup, {"postgres: checkpointer": 1,
                                                      "postgres: walwriter": 1}))
    wait_for("stress", lambda: _started(batch.cgroup, {"stress": 2}))
    api = POD.scope(POD.container_id(POD.containers[0]))
    wait_for("the api", lambda: _started(api, {"python app.py": 1}))
    wait_for("the sandbox", lambda: _started(SESSION, {"python3 -m http.server": 1}))
    log("the scene runs")


def settle(seconds: float) -> None:
    log(f"letting the scene run {seconds:.0f} s")
    time.sleep(seconds)

"""The DaemonSet's view: ``nsscope serve`` in a container started the way
deploy/kubernetes/daemonset.yaml starts it — the host's PID namespace, the host's paths
its volumes name mounted read-only where it mounts them, a read-only root, exactly its
capabilities and no new privileges, its arguments — sees the same containers as
``nsscope serve`` on the host.

The container is podman's (RUNTIMES.md: runc, cgroupfs), its root made from this
machine (no registry here): an empty directory with /usr, /etc, the Python the venv
was made from and the checkout bound read-only. It uses the host's network, not a pod
network, to be reached on loopback: the network is not what is proven here."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import urllib.request
import uuid

import pytest
import yaml

from support import IN_V2_VM, REPO, need_root, need_tool, read_file, status_field
from support.metrics import RuncPod, Serve, free_port, remove_tree, series
from support.runtimes import CgroupGuard
from support.scenario import wait_for

DAEMONSET = REPO / "deploy/kubernetes/daemonset.yaml"
CONTAINERS_CONF = """\
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
"""


def _pod_spec() -> tuple[dict, dict]:
    ds = yaml.safe_load(DAEMONSET.read_text())
    pod = ds["spec"]["template"]["spec"]
    return pod, pod["containers"][0]


def podman(*args: str) -> list[str]:
    """podman, with its storage on the VM's tmpfs there (the VM's / is read-only; vfs: the
    container has no image layers to mount, and leaves no overlay mount behind)."""
    where = ["--root", "/run/nsscope-test-pstore", "--runroot", "/run/nsscope-test-prun",
             "--storage-driver", "vfs"] if IN_V2_VM else []
    return [need_tool("podman"), *where, *args]


def podman_argv(root, name: str, parent: str, port: int) -> list[str]:
    pod, c = _pod_spec()
    assert pod["hostPID"] and c["securityContext"]["readOnlyRootFilesystem"]
    host = {v["name"]: v["hostPath"]["path"] for v in pod["volumes"]}
    argv = [*podman("run"), "-d", "--name", name, "--rootfs", "--read-only",
            "--pid=host", "--network=host", f"--cgroup-parent={parent}",
            "--cap-drop=all", "--cap-add=" + ",".join(c["securityContext"]["capabilities"]["add"]),
            "--security-opt", "no-new-privileges"]
    # what the image would hold, from this machine, read-only
    for path in ("/usr", "/etc", os.path.realpath(sys.base_prefix), str(REPO)):
        argv += ["-v", f"{path}:{path}:ro"]
    for m in c["volumeMounts"]:
        assert m["readOnly"]
        argv += ["-v", f"{host[m['name']]}:{m['mountPath']}:ro,rbind"]
    args = [a if not a.startswith("--listen") else f"--listen=127.0.0.1:{port}" for a in c["args"]]
    return [*argv, str(root), str(REPO / ".venv/bin/nsscope"), *args]


def inventory(text: str) -> set[tuple[str, ...]]:
    """(runtime, id, main pid, cgroup) of every container and sandbox. Names are left out:
    one comes from its runtime's state files, which the DaemonSet sees only in the
    standard places it mounts (a dockerd with a --data-root elsewhere, as other tests
    start, is named there by its id); this test's own are compared by name below."""
    return {tuple(lab.get(k, "") for k in ("runtime", "container_id", "pid", "id"))
            for lab, _ in series(text)["nsscope_container_info"]}


def names(text: str) -> dict[str, str]:
    return {lab["container_id"]: lab["name"] for lab, _ in series(text)["nsscope_container_info"]}


@pytest.mark.v2
@pytest.mark.slow
def test_serve_in_the_daemonsets_container_sees_what_the_host_sees(tmp_path):
    need_root()
    root = tmp_path / "root"
    for d in ("usr", "etc", "proc", "sys", "dev", "tmp", "run", "host"):
        (root / d).mkdir(parents=True)
    for link in ("bin", "lib", "lib64", "sbin"):
        if os.path.islink(f"/{link}"):
            os.symlink(os.readlink(f"/{link}"), root / link)
    conf = tmp_path / "containers.conf"
    conf.write_text(CONTAINERS_CONF)
    env = dict(os.environ, CONTAINERS_CONF=str(conf))
    name = f"nsscope-test-view-{uuid.uuid4().hex[:8]}"
    parent = f"/{name}"
    port = free_port()
    pod = RuncPod(tmp_path / "pod")
    host = None
    # with cgroupfs, podman puts every conmon in /libpod_parent/conmon whatever the
    # container's --cgroup-parent: removed afterwards when this test made it
    libpod = CgroupGuard("libpod_parent")
    try:
        out = subprocess.run(podman_argv(root, name, parent, port), env=env, capture_output=True,
                             text=True, timeout=120, check=False)
        assert out.returncode == 0, out.stderr
        url = f"http://127.0.0.1:{port}"

        def up() -> bool:
            try:
                with urllib.request.urlopen(url + "/healthz", timeout=5) as r:
                    return r.status == 200
            except OSError:
                return False

        wait_for(up, timeout=120, what="serve in the container")
        host = Serve(where=tmp_path)
        first = host.scrape()
        with urllib.request.urlopen(url + "/metrics", timeout=60) as r:
            text = r.read().decode()
        view = inventory(text)
        # past the sampler's settle time (2 s), so that the host's second scrape recognises
        # containers afresh rather than repeat its first
        time.sleep(2.5)
        before, after = inventory(first), inventory(host.scrape())
        # other tests on the machine start and stop containers meanwhile: whatever was there
        # throughout is in the view, and nothing that was not there at some point
        stable, seen = before & after, before | after
        assert stable <= view <= seen, (stable - view, view - seen)
        # itself (podman: named from conmon and containers/storage under /host), and the
        # pod's container (its pod logs are not under the host's /var/log: named by its id)
        here, there = names(text), names(first)
        cid = next(c for c, n in here.items() if n == name)
        assert there[cid] == name and here[pod.id] == there[pod.id] == pod.id[:12]
        # it dropped CAP_SYS_ADMIN once in the host's cgroup namespace (confine.py)
        inspect = subprocess.run(podman("inspect", "-f", "{{.State.Pid}}", name),
                                 env=env, capture_output=True, text=True, check=True)
        st = read_file(f"/proc/{int(inspect.stdout)}/status")
        assert status_field(st, "CapEff") == "0000000000080004"
    finally:
        if host is not None:
            host.stop()
        subprocess.run(podman("rm", "-f", "-t", "0", name), env=env,
                       capture_output=True, check=False, timeout=120)
        pod.close()
        time.sleep(0.2)
        remove_tree(parent)
        libpod.cleanup()
        if IN_V2_VM:
            for d in ("/run/nsscope-test-pstore", "/run/nsscope-test-prun"):
                shutil.rmtree(d, ignore_errors=True)

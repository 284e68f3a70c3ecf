"""Container recognition without runtimes: the cgroup path patterns, lookup by name or
id, and fixture trees captured from (or written as) hosts this machine cannot be
(Kubernetes with containerd or CRI-O, systemd or cgroupfs drivers; the v2 VM).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from nsscope.errors import BadInput, NsscopeError
from nsscope.host.collector import Roots, collect
from nsscope.host.containers import StatePaths, lookup, match_cgroup, pod_of_cgroup
from nsscope.host.model import UNIFIED, Container

from support import FIXTURES, V2_FIXTURE, run_nsscope


def _load_generator():
    """fixtures/make_k8s_fixtures.py, the definition the Kubernetes trees were written from."""
    import importlib.util
    import sys
    spec = importlib.util.spec_from_file_location("make_k8s_fixtures",
                                                  FIXTURES / "make_k8s_fixtures.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


k8s = _load_generator()
HEX = "4f1c2a9e8b7d6c5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e"


@pytest.mark.parametrize("path, runtime, key, where", [
    (f"/docker/{HEX}", "docker", HEX, f"/docker/{HEX}"),
    (f"/system.slice/docker-{HEX}.scope", "docker", HEX, f"/system.slice/docker-{HEX}.scope"),
    (f"/system.slice/docker-{HEX}.scope/init.scope", "docker", HEX,
     f"/system.slice/docker-{HEX}.scope"),
    (f"/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod1b2c_3d.slice/"
     f"cri-containerd-{HEX}.scope", "containerd", HEX, None),
    (f"/kubepods/burstable/pod1b2c3d4e-5f6a-7b8c-9d0e-1f2a3b4c5d6e/{HEX}", "kubernetes", HEX,
     None),
    (f"/kubepods.slice/kubepods-pod1b.slice/crio-{HEX}.scope", "cri-o", HEX, None),
    (f"/kubepods/besteffort/pod1b2c3d4e-5f6a-7b8c-9d0e-1f2a3b4c5d6e/crio-{HEX}", "cri-o", HEX,
     None),
    (f"/machine.slice/libpod-{HEX}.scope", "podman", HEX, None),
    (f"/libpod_parent/libpod-{HEX}", "podman", HEX, None),
    (f"/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-{HEX}.scope", "podman",
     HEX, None),
    ("/lxc.payload.web", "lxc", "web", "/lxc.payload.web"),
    ("/lxc.payload.web/system.slice/cron.service", "lxc", "web", "/lxc.payload.web"),
    ("/lxc/web", "lxc", "web", "/lxc/web"),
    ("/machine.slice/machine-my\\x2dbox.scope", "machined", "my-box", None),
    # docker in lxc: the innermost runtime owns the process
    (f"/lxc.payload.host1/docker/{HEX}", "docker", HEX, f"/lxc.payload.host1/docker/{HEX}"),
])
def test_cgroup_patterns(path, runtime, key, where):
    m = match_cgroup(path)
    assert m is not None and (m.runtime, m.key) == (runtime, key)
    assert m.path == (where or path)


@pytest.mark.parametrize("path", [
    "/", "/user.slice", f"/kubepods.slice/kubepods-pod1b.slice/crio-conmon-{HEX}.scope",
    f"/machine.slice/libpod-conmon-{HEX}.scope", "/libpod_parent/conmon", "/lxc.monitor.web",
    "/docker", f"/system.slice/{HEX}", "/process_api/3a0b9fada80b9590f10016585cec19fc",
])
def test_not_container_cgroups(path):
    assert match_cgroup(path) is None


def test_pod_and_qos_from_both_drivers():
    for pod in k8s.PODS:
        for driver in ("systemd", "cgroupfs"):
            assert pod_of_cgroup(k8s.pod_path(pod, driver) + "/x") == (pod.uid, pod.qos)
    assert pod_of_cgroup(f"/docker/{HEX}") == (None, None)


def test_lookup_by_name_id_prefix_and_pod():
    def c(cid, name, pod=None, ns=None):
        return Container(id=cid, short_id=cid[:12], name=name, runtime="x", pid=1, pids=(1,),
                         state="running", cgroup="/", pod=pod, k8s_namespace=ns)
    cs = [c("ab" * 32, "web"), c("abcd" + "0" * 60, "db"), c("ff" * 32, "app", "p1", "ns1"),
          c("ee" * 32, "app", "p2", "ns1")]
    assert lookup(cs, "web").id == "ab" * 32
    assert lookup(cs, "abcd").name == "db"
    assert lookup(cs, "ff" * 32).name == "app"
    assert lookup(cs, "p2/app").pod == "p2" and lookup(cs, "ns1/p1/app").pod == "p1"
    with pytest.raises(BadInput, match=r"start of the id of db \(x abcd00000000\), web "
                                       r"\(x abababababab\)"):
        lookup(cs, "ab")
    with pytest.raises(BadInput, match=r"'app' names 2 containers"):
        lookup(cs, "app")
    with pytest.raises(NsscopeError, match="no such container: zz"):
        lookup(cs, "zz")


def test_unknown_name_is_one_line_error():
    out = run_nsscope("show", "nsscope-test-no-such-container")
    assert out.returncode == 1 and out.stdout == ""
    assert out.stderr.strip() == "nsscope: no such container: nsscope-test-no-such-container"


def fixture_snapshot(tree: Path):
    return collect(Roots(proc=str(tree / "proc"), cgroup=str(tree / "sys/fs/cgroup"),
                         state=StatePaths().under(str(tree))), fds=False)


def _cpu_max(tree: Path, version: int, path: str) -> float | None:
    """The fixture's own cpu files, read here independently of nsscope."""
    if version == 2:
        quota, period = (tree / f"sys/fs/cgroup{path}/cpu.max").read_text().split()
        return None if quota == "max" else int(quota) / int(period)
    base = tree / f"sys/fs/cgroup/cpu,cpuacct{path}"
    quota = int((base / "cpu.cfs_quota_us").read_text())
    return None if quota < 0 else quota / int((base / "cpu.cfs_period_us").read_text())


@pytest.mark.parametrize("tree, version, driver, runtime", [
    ("k8s-systemd", 2, "systemd", "containerd"),    # metadata from the task bundles
    ("k8s-cgroupfs", 1, "cgroupfs", "containerd"),  # metadata from /var/log only
    ("crio-systemd", 2, "systemd", "cri-o"),        # metadata from containers/storage
])
def test_kubernetes_fixture(tree, version, driver, runtime):
    root = FIXTURES / tree
    snap = fixture_snapshot(root)
    found = {(c.pod, c.name): c for c in snap.containers}
    assert len(found) == len(snap.containers)
    for pod in k8s.PODS:
        for cname, argv in pod.containers:
            c = found[(pod.name, cname)]
            cid = k8s.hexid(f"{pod.uid}/{cname}")
            assert (c.id, c.runtime, c.k8s_namespace, c.pod_uid, c.qos, c.infra) == \
                (cid, runtime, pod.namespace, pod.uid, pod.qos, False)
            assert c.cgroup.startswith(k8s.pod_path(pod, driver) + "/")
            assert c.cgroup.rsplit("/", 1)[1].find(cid) >= 0
            # the main process runs argv; every member is in the container's cgroup
            assert snap.processes[c.pid].cmdline == tuple(argv)
            key = UNIFIED if version == 2 else "cpu,cpuacct"
            for pid in c.pids:
                assert cid in snap.processes[pid].cgroups[key]
            assert c.cpu_limit == (_cpu_max(root, version, c.cgroup) if pod.cpu else None)
            if cname == "nginx":
                assert len(c.pids) == 2  # master and worker
            if runtime == "cri-o" or tree == "k8s-systemd":
                assert c.image == f"docker.io/library/{cname}:latest"
        infra = [c for c in snap.containers if c.pod == pod.name and c.infra]
        assert len(infra) == 1 and snap.processes[infra[0].pid].comm == "pause"
        assert infra[0].id == k8s.hexid(f"{pod.uid}/sandbox") and infra[0].name == "POD"
        assert lookup(snap.containers, f"{pod.name}/POD") == infra[0]
    assert {c.qos for c in snap.containers} == {"guaranteed", "burstable", "besteffort"}
    # shims, conmons, kubelet and the runtime daemon are host processes, no sandboxes
    assert not [c for c in snap.containers if c.sandbox]


def test_ps_on_fixture_hides_pause_unless_all():
    root = FIXTURES / "k8s-systemd"
    env = dict(os.environ, NSSCOPE_PROC=str(root / "proc"),
               NSSCOPE_CGROUP_ROOT=str(root / "sys/fs/cgroup"))
    args = ("ps", "--state-root", str(root))
    shown = json.loads(run_nsscope(*args, "--json", env=env, check=True).stdout)["containers"]
    every = json.loads(run_nsscope(*args, "--json", "-a", env=env, check=True).stdout)["containers"]
    app = sum(len(p.containers) for p in k8s.PODS)
    assert len(shown) == app and not any(c["infra"] for c in shown)
    assert len(every) == app + len(k8s.PODS)
    text = run_nsscope(*args, env=env, check=True).stdout.splitlines()
    assert text[0].split() == ["ID", "NAME", "RUNTIME", "POD", "NAMESPACE", "IMAGE", "COMMAND",
                               "CREATED", "STATUS", "PID", "CPUS"]
    text = run_nsscope(*args, "-o", "ID,NAME,RUNTIME,POD,NAMESPACE", env=env,
                       check=True).stdout.splitlines()
    row = next(line.split() for line in text if " coredns " in line)
    assert row[2:5] == ["containerd", "coredns-5d78c9869d-8kqzv", "kube-system"]


def test_v2_vm_fixture_docker_and_cri_scopes():
    """The captured v2 VM: a docker-<id>.scope and a burstable pod's cri-containerd scope."""
    snap = collect(Roots(proc=str(V2_FIXTURE / "proc"),
                         cgroup=str(V2_FIXTURE / "sys/fs/cgroup"),
                         state=StatePaths().under(str(V2_FIXTURE))), fds=False)
    by_runtime = {c.runtime: c for c in snap.containers}
    assert set(by_runtime) == {"docker", "containerd"}
    docker, cri = by_runtime["docker"], by_runtime["containerd"]
    members = {pid for pid, p in snap.processes.items() if "docker-" in p.cgroups.get(UNIFIED, "")}
    assert set(docker.pids) == members and len(members) == 2
    assert docker.cgroup == snap.processes[docker.pid].cgroups[UNIFIED]
    assert docker.name == docker.id[:12]  # no /var/lib/docker was captured
    assert docker.cpu_limit == 0.2  # its cpu.max is "20000 100000" (fixture README)
    assert (cri.qos, cri.pod_uid) == ("burstable", "1b2c3d4e-5f6a-7b8c-9d0e-1f2a3b4c5d6e")
    assert cri.cpu_limit == 0.5  # the pod slice's cpu.max binds it



"""The collector on fixtures/scene-v2: a host captured in the cgroup-v2 VM with real runtimes.

`vm/capture-fixture.py --scene host` started containerd, docker-style
containers (nginx, postgres, a stress loop held to 20 %), a Kubernetes pod
(pause + python app.py) and a bubblewrap sandbox, and copied /proc, the
cgroup tree and the runtimes' state files; the oracles here are those files
(config.v2.json, the bundles' config.json, cpu.max, cpu.stat, the ns link
texts). `make screenshots` replays this tree. Fast: no VM, no root.
"""

from __future__ import annotations

import json
import os
import re

import pytest

from nsscope.host.collector import Roots, collect
from nsscope.host.containers import StatePaths

from support import FIXTURES

SCENE = FIXTURES / "scene-v2"
ROOTS = Roots(proc=str(SCENE / "proc"), cgroup=str(SCENE / "sys/fs/cgroup"),
              state=StatePaths().under(str(SCENE)))
#: what the capture tooling would leave: its script, its package, the VM
#: harness's results share, this checkout's paths, temporary directories, the
#: old hand-made capture's paths (/mnt as a path of its own, not mnt:[…] links)
TOOLING = re.compile(rb"capture|hostscene|vm-results|/work/|/\.vm/|/tmp/|/var/tmp|/opt/demo"
                     rb"|nsscope|(^|[\s\0=])/mnt($|[\s\0/])")


def _files():
    for d, dirs, names in os.walk(SCENE):
        for name in dirs + names:
            path = os.path.join(d, name)
            if os.path.relpath(path, SCENE) != "README":
                yield path


def _read(rel: str) -> str:
    with open(SCENE / rel) as f:
        return f.read()


@pytest.fixture(scope="module")
def snap():
    return collect(ROOTS, fds=False)


@pytest.fixture(scope="module")
def by_name(snap):
    return {c.name if c.pod is None else f"{c.k8s_namespace}/{c.pod}/{c.name}": c
            for c in snap.containers}


def test_no_path_of_the_capture_tooling_anywhere():
    """Command lines, environments, mount tables, state files, link targets and
    file names: none names the capture script, the VM harness or a temp dir."""
    found = []
    for path in _files():
        rel = os.path.relpath(path, SCENE)
        texts = [rel.encode()]
        if os.path.islink(path):
            texts.append(os.readlink(path).encode())
        elif os.path.isfile(path):
            with open(path, "rb") as f:
                texts.append(f.read())
        found += [f"{rel}: {m.group().decode()!r}" for t in texts for m in TOOLING.finditer(t)]
    assert not found, found[:20]


def test_no_process_is_a_fork_of_the_capturing_python(snap):
    pythons = [p for p in snap.processes.values() if p.comm.startswith("python")]
    # the pod's app and the sandbox's server, and nothing else
    assert sorted(" ".join(p.cmdline) for p in pythons) == [
        "python app.py", "python3 -m http.server --bind 127.0.0.1 8000"]


def test_real_programs_run(snap):
    cmdlines = {" ".join(p.cmdline) for p in snap.processes.values()}
    for want in ("nginx: master process nginx -g daemon off;", "nginx: worker process",
                 "postgres", "postgres: checkpointer ", "postgres: walwriter ",
                 "stress --cpu 1", "python app.py", "/pause", "/usr/bin/containerd"):
        assert any(c == want or c.startswith(want) for c in cmdlines), want
    shims = [p for p in snap.processes.values() if p.comm == "containerd-shim"]
    # one shim per docker container, one for the pod (the runc shim groups by sandbox id)
    assert sorted(p.cmdline[2] for p in shims) == ["k8s.io", "moby", "moby", "moby"]


def test_docker_containers_are_named_from_config_v2(snap, by_name):
    for name in ("web", "db", "batch"):
        c = by_name[name]
        cfg = json.loads(_read(f"var/lib/docker/containers/{c.id}/config.v2.json"))
        assert (c.runtime, "/" + c.name, c.image) == ("docker", cfg["Name"],
                                                       cfg["Config"]["Image"])
        assert c.cgroup == f"/system.slice/docker-{c.id}.scope"
        assert cfg["State"]["Pid"] == c.pid
    assert (by_name["web"].image, by_name["db"].image) == ("nginx:1.22", "postgres:15")


def test_the_pod_is_named_from_the_cri_annotations(snap, by_name):
    api = by_name["shop/api-6d8f9c7b5-x2kq9/api"]
    sandbox = by_name["shop/api-6d8f9c7b5-x2kq9/POD"]
    ann = json.loads(_read(f"run/containerd/io.containerd.runtime.v2.task/k8s.io/{api.id}"
                           "/config.json"))["annotations"]
    assert (api.runtime, api.pod, api.k8s_namespace, api.pod_uid, api.image) == (
        "containerd", ann["io.kubernetes.cri.sandbox-name"],
        ann["io.kubernetes.cri.sandbox-namespace"], ann["io.kubernetes.cri.sandbox-uid"],
        ann["io.kubernetes.cri.image-name"])
    assert (api.qos, sandbox.infra, api.infra) == ("burstable", True, False)
    assert sandbox.id == ann["io.kubernetes.cri.sandbox-id"]
    uid = api.pod_uid.replace("-", "_")
    assert api.cgroup == ("/kubepods.slice/kubepods-burstable.slice/"
                          f"kubepods-burstable-pod{uid}.slice/cri-containerd-{api.id}.scope")
    # the kubelet's log directory for the pod: <namespace>_<pod>_<uid>/<container>/
    assert os.path.isdir(SCENE / f"var/log/pods/shop_api-6d8f9c7b5-x2kq9_{api.pod_uid}/api")


def test_containers_live_in_their_own_namespaces(snap, by_name):
    """The ns link texts: pid, net, mnt, uts, ipc of every container's main process
    differ from pid 1's; the pod's app shares net, ipc and uts with its sandbox."""
    def ns(pid: int, typ: str) -> str:
        return os.readlink(SCENE / f"proc/{pid}/ns/{typ}")

    for name, c in by_name.items():
        for typ in ("pid", "net", "mnt", "uts", "ipc"):
            assert ns(c.pid, typ) != ns(1, typ), (name, typ)
    api = by_name["shop/api-6d8f9c7b5-x2kq9/api"]
    pause = by_name["shop/api-6d8f9c7b5-x2kq9/POD"]
    for typ in ("net", "ipc", "uts"):
        assert ns(api.pid, typ) == ns(pause.pid, typ)
    assert ns(api.pid, "pid") != ns(pause.pid, "pid")


def test_no_link_leads_out_of_the_fixture_into_a_directory():
    """A captured /proc/PID/root (-> /) or a bundle's work link would take anything
    walking the checkout (pytest's collection, grep -R) into this host's own tree."""
    links = [p for p in _files() if os.path.islink(p)]
    assert links and not [p for p in links if os.path.isdir(p)]
    assert all("/ns/" in p or p.endswith(".log") for p in links)


def test_ns_links_hold_the_real_link_text():
    pattern = re.compile(r"(cgroup|ipc|mnt|net|pid|time|user|uts):\[\d+\]")
    links = [p for p in _files() if "/ns/" in p and os.path.islink(p)]
    assert len(links) > 100
    assert all(pattern.fullmatch(os.readlink(p)) for p in links)


def test_batch_is_held_to_20_percent_and_throttled(snap, by_name):
    batch = by_name["batch"]
    rel = f"sys/fs/cgroup{batch.cgroup}"
    assert _read(f"{rel}/cpu.max").split() == ["20000", "100000"]
    stat = dict(line.split() for line in _read(f"{rel}/cpu.stat").splitlines())
    cpu = snap.cgroups[batch.cgroup].cpu
    assert (cpu.quota_usec, cpu.period_usec, cpu.nr_throttled, cpu.throttled_usec) == (
        20000, 100000, int(stat["nr_throttled"]), int(stat["throttled_usec"]))
    assert cpu.nr_throttled > 0 and batch.cpu_limit == pytest.approx(0.2)


def test_the_sandbox_is_found(snap):
    (sandbox,) = [c for c in snap.containers if c.sandbox]
    assert sandbox.runtime == "bwrap"
    # bwrap as the sandbox's pid 1 and the server it runs; the bwrap that
    # started them stays in the host's namespaces, their parent
    assert sorted(snap.processes[p].cmdline[0] for p in sandbox.pids) == ["bwrap", "python3"]
    main = snap.processes[sandbox.pid]
    launcher = snap.processes[main.ppid]
    assert launcher.comm == "bwrap"
    assert all(launcher.ns[t] == ino for t, ino in snap.host_ns.items())
    with open(SCENE / f"proc/{sandbox.pid}/status") as f:
        nspid = next(line.split()[1:] for line in f if line.startswith("NSpid:"))
    assert (main.comm, nspid[-1]) == ("bwrap", "1")
    # bwrap --unshare-all: new user, pid, net, uts, ipc, mount and cgroup namespaces
    assert {"user", "pid", "net", "mnt", "uts", "ipc", "cgroup"} == {
        t for t, ino in snap.host_ns.items() if main.ns[t] != ino}

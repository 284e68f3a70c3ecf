"""Inside the VM: a Kubernetes pod as the kubelet (systemd cgroup driver) and
containerd's CRI plugin (1.6) lay it out, minus the kubelet itself.

There is no kubelet (nor API server) in the VM, so the scene does the node-side
steps the kubelet and the CRI plugin do for one pod, and lets containerd, its
runc shim and runc run the containers from real images (imported with
``ctr images import``, unpacked by the overlayfs snapshotter, mounted by the
shim at the bundle's rootfs, as under CRI):

- the QoS and pod cgroups the kubelet writes (pkg/kubelet/cm: kubepods.slice,
  kubepods-<qos>.slice, kubepods-<qos>-pod<uid>.slice; cpu.weight from the
  requests' shares, cpu.max and memory.max from the limits);
- the pod's network namespace pinned at /var/run/netns/cni-<uuid> (CNI's
  convention; no CNI plugin runs: loopback only), the sandbox's shm tmpfs and
  hostname/hosts/resolv.conf (pkg/cri/server/sandbox_run.go), the kubelet's
  etc-hosts and termination-log files, /var/log/pods/<ns>_<pod>_<uid>/<container>/
  and the /var/log/containers link (kuberuntime_container.go);
- the sandbox (pause) and the app container in containerd's "k8s.io"
  namespace with the CRI annotations (pkg/cri/annotations), one shim for the
  pod (the runc shim groups by io.kubernetes.cri.sandbox-id), the app joining
  the sandbox's network, IPC and UTS namespaces, cgroups at
  <pod slice>/cri-containerd-<id>.scope.

``ctr run`` builds the spec from containerd's defaults, as the CRI plugin
does, but cannot set everything CRI sets: the pod's hostname and the
oom_score_adj values are written after start (the kernel state is the same;
the spec just does not carry them), the app container has no cgroup namespace
of its own (CRI gives one on cgroup v2), no seccomp profile. The container
logs are the raw output (the CRI plugin prefixes each line with time and
stream).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from hostscene.runtime import (
    ctr,
    hexid,
    log,
    make_cgroup,
    mount,
    sh,
    task_pid,
    uuid_from,
    write,
)

CRI_STATE = "/run/containerd/io.containerd.grpc.v1.cri"
CRI_ROOT = "/var/lib/containerd/io.containerd.grpc.v1.cri"
KUBELET = "/var/lib/kubelet"
POD_LOGS = "/var/log/pods"
CONTAINER_LOGS = "/var/log/containers"
SERVICE_ENV = ["KUBERNETES_SERVICE_HOST=10.96.0.1", "KUBERNETES_SERVICE_PORT=443",
               "KUBERNETES_SERVICE_PORT_HTTPS=443", "KUBERNETES_PORT=tcp://10.96.0.1:443",
               "KUBERNETES_PORT_443_TCP=tcp://10.96.0.1:443",
               "KUBERNETES_PORT_443_TCP_PROTO=tcp", "KUBERNETES_PORT_443_TCP_PORT=443",
               "KUBERNETES_PORT_443_TCP_ADDR=10.96.0.1"]


def shares(milli: int) -> int:
    """MilliCPUToShares (pkg/kubelet/cm/helpers_linux.go): 2 at least."""
    return max(2, milli * 1024 // 1000)


def weight(cpu_shares: int) -> int:
    """cgroup v1 shares -> v2 cpu.weight (runc libcontainer/cgroups/utils.go
    ConvertCPUSharesToCgroupV2Value, which the kubelet uses too)."""
    return 1 + ((cpu_shares - 2) * 9999) // 262142


@dataclass
class PodContainer:
    name: str
    image: str
    cpu_request: int          # millicores
    cpu_limit: int            # millicores, 0: none
    memory_request: int       # bytes
    memory_limit: int         # bytes, 0: none
    env: list[str] = field(default_factory=list)


@dataclass
class Pod:
    namespace: str
    name: str
    containers: list[PodContainer]
    sandbox_image: str

    @property
    def uid(self) -> str:
        return uuid_from("pod", self.namespace, self.name)

    @property
    def sandbox_id(self) -> str:
        return hexid("k8s", self.namespace, self.name, "sandbox")

    def container_id(self, c: PodContainer) -> str:
        return hexid("k8s", self.namespace, self.name, c.name)

    @property
    def qos(self) -> str:
        """pkg/apis/core/v1/helper/qos GetPodQOS, for the cases used here."""
        if all(c.cpu_request == 0 and c.memory_request == 0 for c in self.containers):
            return "besteffort"
        if all(c.cpu_limit and c.cpu_limit == c.cpu_request and c.memory_limit
               and c.memory_limit == c.memory_request for c in self.containers):
            return "guaranteed"
        return "burstable"

    @property
    def slice(self) -> str:
        """The pod's cgroup (systemd driver: dashes of the qos and the uid's
        dashes as underscores, pkg/kubelet/cm/cgroup_manager_linux.go)."""
        uid = self.uid.replace("-", "_")
        if self.qos == "guaranteed":
            return f"/kubepods.slice/kubepods-pod{uid}.slice"
        return f"/kubepods.slice/kubepods-{self.qos}.slice/kubepods-{self.qos}-pod{uid}.slice"

    def scope(self, cid: str) -> str:
        # CRI: cgroupsPath "<pod slice>:cri-containerd:<id>" under the systemd driver
        return f"{self.slice}/cri-containerd-{cid}.scope"

    @property
    def log_dir(self) -> str:
        return f"{POD_LOGS}/{self.namespace}_{self.name}_{self.uid}"


def node_cgroups(memory_total: int) -> None:
    """What the kubelet's container manager creates at start (node allocatable =
    capacity here: no reservations)."""
    make_cgroup("/kubepods.slice", {"cpu.weight": str(weight(shares(os.cpu_count() * 1000))),
                                    "memory.max": str(memory_total)})
    make_cgroup("/kubepods.slice/kubepods-burstable.slice")
    make_cgroup("/kubepods.slice/kubepods-besteffort.slice", {"cpu.weight": "1"})


def pod_cgroup(pod: Pod) -> None:
    requests = sum(c.cpu_request for c in pod.containers)
    files = {"cpu.weight": str(weight(shares(requests)))}
    if all(c.cpu_limit for c in pod.containers):
        # pod-level quota when every container has a limit (helpers_linux.go ResourceConfigForPod)
        files["cpu.max"] = f"{sum(c.cpu_limit for c in pod.containers) * 100} 100000"
    if all(c.memory_limit for c in pod.containers):
        files["memory.max"] = str(sum(c.memory_limit for c in pod.containers))
    if pod.qos == "burstable":
        # the QoS cgroup's weight follows its pods' requests (qos_container_manager_linux.go)
        write("/sys/fs/cgroup/kubepods.slice/kubepods-burstable.slice/cpu.weight",
              files["cpu.weight"])
    make_cgroup(pod.slice, files)


def _annotations(pod: Pod, c: PodContainer | None) -> list[str]:
    ann = {"io.kubernetes.cri.container-type": "sandbox" if c is None else "container",
           "io.kubernetes.cri.sandbox-id": pod.sandbox_id,
           "io.kubernetes.cri.sandbox-namespace": pod.namespace,
           "io.kubernetes.cri.sandbox-uid": pod.uid,
           "io.kubernetes.cri.sandbox-name": pod.name}
    if c is None:
        ann["io.kubernetes.cri.sandbox-log-directory"] = pod.log_dir
    else:
        ann["io.kubernetes.cri.container-name"] = c.name
        ann["io.kubernetes.cri.image-name"] = c.image
    out = []
    for k, v in ann.items():
        out += ["--annotation", f"{k}={v}"]
    return out


def _labels(pod: Pod, c: PodContainer | None) -> list[str]:
    """The labels CRI puts on the containerd container (pkg/cri/server/helpers.go)."""
    labels = {"io.cri-containerd.kind": "sandbox" if c is None else "container",
              "io.kubernetes.pod.name": pod.name, "io.kubernetes.pod.namespace": pod.namespace,
              "io.kubernetes.pod.uid": pod.uid}
    if c is not None:
        labels["io.kubernetes.container.name"] = c.name
    out = []
    for k, v in labels.items():
        out += ["--label", f"{k}={v}"]
    return out


def _bind(src: str, dst: str, ro: bool = False) -> list[str]:
    mode = "ro" if ro else "rw"
    return ["--mount", f"type=bind,src={src},dst={dst},options=rbind:rprivate:{mode}"]


def _oom_score_adj(pid: int, value: int) -> None:
    write(f"/proc/{pid}/oom_score_adj", str(value))


def run_pod(pod: Pod, memory_total: int) -> dict[str, int]:
    """RunPodSandbox then CreateContainer/StartContainer for each container.
    Returns {container name or "POD": init pid}."""
    pod_cgroup(pod)
    sid = pod.sandbox_id
    netns_name = f"cni-{uuid_from('netns', pod.namespace, pod.name)}"
    sh("ip", "netns", "add", netns_name)
    sh("ip", "-n", netns_name, "link", "set", "lo", "up")
    netns = f"/var/run/netns/{netns_name}"
    # the sandbox's files (sandbox_run.go setupSandboxFiles)
    sroot, sstate = f"{CRI_ROOT}/sandboxes/{sid}", f"{CRI_STATE}/sandboxes/{sid}"
    os.makedirs(sroot, exist_ok=True)
    os.makedirs(f"{sstate}/shm", exist_ok=True)
    write(f"{sroot}/hostname", pod.name + "\n")
    write(f"{sroot}/hosts", "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n")
    try:
        with open("/etc/resolv.conf") as f:
            write(f"{sroot}/resolv.conf", f.read())
    except OSError:
        write(f"{sroot}/resolv.conf", "")
    mount("-t", "tmpfs", "-o", "nosuid,nodev,noexec,mode=1777,size=65536k", "shm",
          f"{sstate}/shm")
    os.makedirs(pod.log_dir, mode=0o755, exist_ok=True)
    ctr("k8s.io", "run", "-d", "--null-io", "--read-only",
        "--cgroup", pod.scope(sid), "--cpu-shares", "2",
        "--with-ns", f"network:{netns}",
        *_annotations(pod, None), *_labels(pod, None),
        *_bind(f"{sstate}/shm", "/dev/shm"),
        pod.sandbox_image, sid)
    pause = task_pid("k8s.io", sid)
    # the pod's hostname (the sandbox spec's "hostname"; see the module doc)
    sh("nsenter", f"--target={pause}", "--uts", "hostname", pod.name)
    _oom_score_adj(pause, -998)  # kubelet qos/policy.go PodInfraOOMAdj
    pids = {"POD": pause}
    log(f"pod {pod.namespace}/{pod.name}: sandbox {sid[:12]} pid {pause}")

    kroot = f"{KUBELET}/pods/{pod.uid}"
    os.makedirs(f"{kroot}/volumes", exist_ok=True)
    os.makedirs(f"{kroot}/plugins", exist_ok=True)
    # kubelet_pods.go ensureHostsFile: the kubelet-managed /etc/hosts
    write(f"{kroot}/etc-hosts", "# Kubernetes-managed hosts file.\n127.0.0.1\tlocalhost\n"
          "::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\n"
          "fe00::0\tip6-mcastprefix\nfe00::1\tip6-allnodes\nfe00::2\tip6-allrouters\n")
    os.makedirs(CONTAINER_LOGS, exist_ok=True)
    for c in pod.containers:
        cid = pod.container_id(c)
        term = f"{kroot}/containers/{c.name}/{hexid('termination', cid)[:8]}"
        os.makedirs(os.path.dirname(term), exist_ok=True)
        open(term, "w").close()
        os.makedirs(f"{pod.log_dir}/{c.name}", mode=0o755, exist_ok=True)
        logfile = f"{pod.log_dir}/{c.name}/0.log"
        resources = ["--cpu-shares", str(shares(c.cpu_request))]
        if c.cpu_limit:
            resources += ["--cpu-quota", str(c.cpu_limit * 100), "--cpu-period", "100000"]
        if c.memory_limit:
            resources += ["--memory-limit", str(c.memory_limit)]
        env = []
        for e in [f"HOSTNAME={pod.name}", *SERVICE_ENV, *c.env]:
            env += ["--env", e]
        ctr("k8s.io", "run", "-d", f"--log-uri=file://{logfile}",
            "--cgroup", pod.scope(cid), *resources,
            "--with-ns", f"network:{netns}",
            "--with-ns", f"ipc:/proc/{pause}/ns/ipc",
            "--with-ns", f"uts:/proc/{pause}/ns/uts",
            *_annotations(pod, c), *_labels(pod, c), *env,
            *_bind(f"{kroot}/etc-hosts", "/etc/hosts"),
            *_bind(term, "/dev/termination-log"),
            *_bind(f"{sroot}/hostname", "/etc/hostname"),
            *_bind(f"{sroot}/resolv.conf", "/etc/resolv.conf"),
            *_bind(f"{sstate}/shm", "/dev/shm"),
            c.image, cid)
        pid = task_pid("k8s.io", cid)
        # kubelet qos/policy.go GetContainerOOMScoreAdjust for Burstable
        adj = 1000 - (1000 * c.memory_request) // memory_total
        _oom_score_adj(pid, min(max(adj, 2), 999))
        # kuberuntime_container.go: <pod>_<namespace>_<container>-<id>.log
        os.symlink(logfile, f"{CONTAINER_LOGS}/{pod.name}_{pod.namespace}_{c.name}-{cid}.log")
        pids[c.name] = pid
        log(f"pod {pod.namespace}/{pod.name}: {c.name} {cid[:12]} pid {pid}")
    return pids

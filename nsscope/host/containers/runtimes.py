"""``describe``: which runtime readers a container's cgroup match calls, in which
order (a shim or conmon parent can tell docker from containerd, podman from CRI-O).
"""

from __future__ import annotations

import os

from nsscope.host.containers.cgroup_names import CgroupMatch, pod_of_cgroup
from nsscope.host.containers.containerd import from_containerd, shim_of
from nsscope.host.containers.containers_storage import conmon_of, from_storage
from nsscope.host.containers.docker import from_docker
from nsscope.host.containers.info import Info
from nsscope.host.containers.kubelet import from_pod_logs
from nsscope.host.containers.lxc import from_lxc
from nsscope.host.containers.nsscope_runs import from_nsscope
from nsscope.host.containers.oci import from_bundle
from nsscope.host.containers.state_paths import Context


def describe(ctx: Context, m: CgroupMatch, main: int) -> Info:
    """Everything the runtime's state says about the container matched by ``m``."""
    info = Info(runtime=m.runtime, id=m.key)
    if m.runtime in ("lxc", "machined"):
        info.name = m.key
    info.pod_uid, _ = pod_of_cgroup(m.path)
    shim = shim_of(ctx, main)
    conmon = conmon_of(ctx, main)
    if shim is not None and m.runtime in ("kubernetes", "docker", "containerd"):
        ns = shim[0]
        # containerd namespaces: "moby" is dockerd's, "k8s.io" the CRI plugin's
        # (moby libcontainerd; containerd pkg/cri/constants K8sContainerdNamespace)
        if ns == "moby":
            info.runtime = "docker"
        elif m.runtime == "kubernetes" or ns == "k8s.io":
            info.runtime = "containerd"
    if conmon is not None and m.runtime in ("kubernetes", "podman", "cri-o"):
        _, name, bundle = conmon
        if m.runtime == "kubernetes":
            info.runtime = "cri-o"
        if info.runtime == "podman" and name:
            info.name = name
        if bundle:
            bundle = ctx.paths.host(bundle)
            from_bundle(info, bundle)
            # bundle = <graphroot>/<driver>-containers/<id>/userdata
            from_storage(info, os.path.dirname(os.path.dirname(os.path.dirname(bundle))))
    if info.runtime == "docker":
        from_docker(ctx, info)
    if info.runtime in ("containerd", "docker", "kubernetes"):
        from_containerd(ctx, info, shim)
    if info.runtime in ("podman", "cri-o") or (info.runtime == "kubernetes" and conmon is None):
        for storage in ctx.paths.containers_storage:
            if from_storage(info, storage):
                if info.runtime == "kubernetes":
                    info.runtime = "cri-o"
                break
    if info.runtime == "lxc":
        from_lxc(ctx, info)
    if info.runtime == "nsscope":
        from_nsscope(ctx, info)
    if info.pod_uid or info.runtime in ("containerd", "cri-o", "kubernetes"):
        from_pod_logs(ctx, info)
    return info



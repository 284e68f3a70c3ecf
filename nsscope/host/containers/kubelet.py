"""Kubernetes: pod metadata from an OCI config's annotations and from the kubelet's
pod log directories.
"""

from __future__ import annotations

import os

from nsscope.host.containers.info import Info
from nsscope.host.containers.state_paths import Context

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping


def from_annotations(info: Info, ann: Mapping[str, str]) -> None:
    """Kubernetes metadata from an OCI config.json's annotations."""
    # containerd CRI (pkg/cri/annotations/annotations.go)
    if "io.kubernetes.cri.container-type" in ann:
        info.infra = ann["io.kubernetes.cri.container-type"] == "sandbox"
        info.pod = ann.get("io.kubernetes.cri.sandbox-name", info.pod)
        info.k8s_namespace = ann.get("io.kubernetes.cri.sandbox-namespace", info.k8s_namespace)
        info.pod_uid = ann.get("io.kubernetes.cri.sandbox-uid", info.pod_uid)
        info.name = ann.get("io.kubernetes.cri.container-name") or info.name
        info.image = ann.get("io.kubernetes.cri.image-name") or info.image
    # CRI-O (cri-o pkg/annotations; the io.kubernetes.* keys are kubelet's
    # labels, pkg/kubelet/types/labels.go)
    if "io.kubernetes.cri-o.ContainerType" in ann:
        info.infra = ann["io.kubernetes.cri-o.ContainerType"] == "sandbox"
        info.pod = ann.get("io.kubernetes.pod.name", info.pod)
        info.k8s_namespace = ann.get("io.kubernetes.pod.namespace", info.k8s_namespace)
        info.pod_uid = ann.get("io.kubernetes.pod.uid", info.pod_uid)
        info.name = ann.get("io.kubernetes.container.name") or info.name
        info.image = ann.get("io.kubernetes.cri-o.ImageName") or info.image


def from_pod_logs(ctx: Context, info: Info) -> None:
    """Pod name and namespace from /var/log/pods/<ns>_<pod>_<uid>, the container name
    from /var/log/containers/<pod>_<ns>_<container>-<id>.log (kubelet)."""
    if info.pod_uid and (info.pod is None or info.k8s_namespace is None):
        try:
            for d in os.listdir(ctx.paths.pod_logs):
                parts = d.split("_")
                if len(parts) == 3 and parts[2] == info.pod_uid:
                    info.k8s_namespace = info.k8s_namespace or parts[0]
                    info.pod = info.pod or parts[1]
                    break
        except OSError:
            pass
    if info.name is None and not info.infra:
        suffix = f"-{info.id}.log"
        try:
            for f in os.listdir(ctx.paths.container_logs):
                if f.endswith(suffix):
                    pod, ns, rest = f[:-len(suffix)].split("_", 2)
                    info.name = rest
                    info.pod = info.pod or pod
                    info.k8s_namespace = info.k8s_namespace or ns
                    break
        except (OSError, ValueError):
            pass



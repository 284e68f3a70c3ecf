"""docker: the container's name and image from its config.v2.json under the data root."""

from __future__ import annotations

import os

from nsscope.host.containers.files import read_json, rfc3339
from nsscope.host.containers.info import Info
from nsscope.host.containers.state_paths import Context


def from_docker(ctx: Context, info: Info) -> None:
    """<data-root>/containers/<id>/config.v2.json (moby container/container.go
    ToDisk: Name "/web", State.Pid, Config.Image, Config.Labels)."""
    for root in ctx.docker_roots:
        cfg = read_json(os.path.join(root, "containers", info.id, "config.v2.json"))
        if not isinstance(cfg, dict):
            continue
        name = cfg.get("Name")
        if isinstance(name, str) and name:
            info.name = info.name or name.lstrip("/")
        state = cfg.get("State") or {}
        if isinstance(state.get("Pid"), int) and state["Pid"] > 0:
            info.pid = state["Pid"]
        created = cfg.get("Created")
        if isinstance(created, str):
            info.created = rfc3339(created)
        conf = cfg.get("Config") or {}
        info.image = info.image or conf.get("Image")
        labels = conf.get("Labels") or {}
        # Kubernetes through dockershim / cri-dockerd labels its containers
        # (pkg/kubelet/types/labels.go; dockershim's io.kubernetes.docker.type)
        if "io.kubernetes.pod.name" in labels:
            info.pod = labels.get("io.kubernetes.pod.name")
            info.k8s_namespace = labels.get("io.kubernetes.pod.namespace")
            info.pod_uid = labels.get("io.kubernetes.pod.uid")
            info.infra = labels.get("io.kubernetes.docker.type") == "podsandbox"
            cname = labels.get("io.kubernetes.container.name")
            if cname and not info.infra:
                info.name = cname
        return



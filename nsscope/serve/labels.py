"""The labels every container series carries, as the kubelet exports cAdvisor's.

cAdvisor labels a container's series with ``id`` (its cgroup path), ``name`` (its
first alias: docker's name) and ``image`` (cAdvisor metrics/prometheus.go,
DefaultContainerLabels); the kubelet adds ``container``, ``pod`` and ``namespace``
from the Kubernetes labels, blank for what is not a Kubernetes container (kubernetes
pkg/kubelet/server/server.go, containerPrometheusLabelsFunc); a blank label is no
label to Prometheus, and is not sent (families.py). Rules and
dashboards written for the kubelet (kubernetes-mixin's ``container!=""``) select
the same series here.

Every value but ``id``'s path separators is chosen by whoever made the container:
escaped like every other text nsscope prints (printable.py), so a scrape shown in
a terminal (``curl …/metrics``) cannot carry control characters; the exposition
format escapes quotes, backslashes and newlines itself.
"""

from __future__ import annotations

from nsscope.host.model import Container
from nsscope.printable import safe

#: the label names of every cAdvisor-compatible series, in the kubelet's set
NAMES: tuple[str, ...] = ("id", "name", "image", "container", "pod", "namespace")


def kubernetes_container(c: Container) -> str:
    """The ``container`` label: the Kubernetes container's name; blank for a pod's
    sandbox (the kubelet's CRI containers carry no container-name label there) and for
    whatever is not in a pod."""
    if c.infra or not (c.pod or c.k8s_namespace or c.pod_uid):
        return ""
    return c.name


def values(c: Container) -> tuple[str, ...]:
    """The values of ``NAMES`` for one container."""
    return (safe(c.cgroup or ""), safe(c.name), safe(c.image or ""),
            safe(kubernetes_container(c)), safe(c.pod or ""), safe(c.k8s_namespace or ""))


def of(c: Container) -> dict[str, str]:
    """``NAMES`` -> values for one container, those with a value: a blank label is no
    label to Prometheus (families.py)."""
    return {k: v for k, v in zip(NAMES, values(c), strict=True) if v}

"""How a container is called wherever one appears (issue 15): by its name, as ``nsscope
ps`` knows it, never by a bare hex id; and which container a cgroup belongs to.

The name is the runtime's: docker's and podman's ``--name``, the runc/crun/lxc/nspawn
id (which is the name the user gave), nsscope run's ``--name``; a Kubernetes
container is ``NAMESPACE/POD/CONTAINER`` (what ``kubectl`` users type), a sandbox
its launcher's name. Every view (CLI and TUI) takes its words from here, and every
JSON view the same object (``ref``), so the two never disagree.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable

    from nsscope.host.model import Container


def name(c: Container) -> str:
    """The container's name as a user types it: ``NAMESPACE/POD/NAME`` in Kubernetes."""
    if c.pod and c.k8s_namespace:
        return f"{c.k8s_namespace}/{c.pod}/{c.name}"
    if c.pod:
        return f"{c.pod}/{c.name}"
    return c.name


def title(c: Container, short: bool = True) -> str:
    """``web (docker 4f1c2a9e8b7d)``: the name, then the runtime and short id where they
    add something (a runc or nsscope container's id is its name)."""
    n = name(c)
    ident = c.short_id if short else c.id
    if ident and ident != c.name and not c.sandbox:
        return f"{n} ({c.runtime} {ident})"
    return f"{n} ({c.runtime})"


def ref(c: Container) -> dict[str, str | None]:
    """The container as JSON objects carry it (docs/json.md): separate fields, never a
    display string."""
    out: dict[str, str | None] = {"name": c.name, "id": c.id, "runtime": c.runtime}
    if c.pod is not None:
        out["pod"] = c.pod
    if c.k8s_namespace is not None:
        out["namespace"] = c.k8s_namespace
    return out


def by_cgroup(containers: Iterable[Container]) -> dict[str, Container]:
    """Cgroup path -> the container whose cgroup it is (sandboxes share their launcher's
    cgroup and name none; an infra container never wins over a pod's own)."""
    out: dict[str, Container] = {}
    for c in containers:
        if c.cgroup is None or c.sandbox:
            continue
        if c.cgroup not in out or out[c.cgroup].infra:
            out[c.cgroup] = c
    return out


def owner(path: str, index: dict[str, Container]) -> Container | None:
    """The container whose cgroup is ``path`` or its nearest ancestor (a container's
    sub-cgroups, e.g. systemd's or a nested runtime's, are still that container's)."""
    while True:
        c = index.get(path)
        if c is not None:
            return c
        if path in ("", "/"):
            return None
        path = path.rsplit("/", 1)[0] or "/"

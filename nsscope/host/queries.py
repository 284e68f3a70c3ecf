"""Questions the views ask of a ``Snapshot``: the CLI and the TUI share them."""

from __future__ import annotations

from nsscope.host.model import Cgroup, Namespace, Snapshot


def user_tree(snap: Snapshot) -> tuple[list[Namespace], dict[int, list[Namespace]],
                                       dict[int | None, list[Namespace]]]:
    """(root user namespaces, user ns -> child user namespaces, owner -> owned namespaces).

    A namespace whose owner is unknown (a captured tree has no nsfs files to
    ask) is filed under owner None, except the initial ones, which belong to
    the initial user namespace (init_nsproxy, kernel/nsproxy.c).
    """
    users = {ino: ns for ino, ns in snap.namespaces.items() if ns.type == "user"}
    host_user = snap.host_ns.get("user")
    children: dict[int, list[Namespace]] = {}
    roots: list[Namespace] = []
    for ns in sorted(users.values(), key=lambda n: n.ino):
        if ns.parent is not None and ns.parent in users:
            children.setdefault(ns.parent, []).append(ns)
        else:
            roots.append(ns)
    owned: dict[int | None, list[Namespace]] = {}
    for ns in sorted(snap.namespaces.values(), key=lambda n: (n.type, n.ino)):
        if ns.type == "user":
            continue
        owner = ns.owner if ns.owner in users else None
        if owner is None and snap.is_host(ns) and host_user in users:
            owner = host_user
        owned.setdefault(owner, []).append(ns)
    return roots, children, owned


def cgroup_children(snap: Snapshot) -> dict[str | None, list[Cgroup]]:
    """Parent path -> its child cgroups, by path (the root's parent is None)."""
    kids: dict[str | None, list[Cgroup]] = {}
    for cg in snap.cgroups.values():
        kids.setdefault(cg.parent_path, []).append(cg)
    for v in kids.values():
        v.sort(key=lambda c: c.path)
    return kids

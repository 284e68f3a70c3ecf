"""``lookup``: a container by name, pod-qualified name, full id or unique id prefix."""

from __future__ import annotations

from collections.abc import Iterable

from nsscope.errors import BadInput, NsscopeError
from nsscope.host.model import Container

# --- names -> targets -------------------------------------------------------------

def lookup(containers: Iterable[Container], text: str) -> Container:
    """A container by name ("web", "pod/container", "namespace/pod/container"),
    full id, or unique id prefix."""
    cs = list(containers)

    def names(c: Container) -> set[str]:
        out = {c.name}
        if c.pod:
            out.add(f"{c.pod}/{c.name}")
            if c.k8s_namespace:
                out.add(f"{c.k8s_namespace}/{c.pod}/{c.name}")
        return out

    for hits in ([c for c in cs if text in names(c)],
                 [c for c in cs if c.id == text],
                 [c for c in cs if c.id.startswith(text)] if text else []):
        if len(hits) == 1:
            return hits[0]
        if len(hits) > 1:
            listed = ", ".join(f"{c.short_id} ({c.runtime} {c.name})" for c in hits[:10])
            raise BadInput(f"{text!r} is ambiguous: it matches {listed}")
    raise NsscopeError(f"no such container: {text}")

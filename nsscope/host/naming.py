"""Naming a container: ``choose`` finds the one container a name, an id or an id
prefix names, or refuses, listing every candidate.

The rules (README, "Naming a target"), in order:

1. an exact name ("web", "pod/container", "namespace/pod/container");
2. an exact id;
3. a prefix of exactly one container's id, and of no container's name (docker
   refuses an ambiguous prefix the same way: daemon/container.go GetContainer
   and the truncindex it uses). A sandbox's id is a namespace inode, matched
   whole only: a number is a pid far more often than the start of an inode.

Two containers fitting one step is a refusal, never a pick. ``id:`` takes only
steps 2 and 3 (names ignored), ``name:`` only step 1.

Works on anything with a container's ``id``, ``name``, ``runtime``, ``pod``,
``k8s_namespace``, ``sandbox`` and ``short_id`` (``model.Container``, or the
quick index's entries, ``candidates.Entry``): no typing or dataclasses import
on the way from ``nsscope enter NAME`` to here, and it lives outside the
containers package (whose import recognises every runtime) for that reason.
"""

from __future__ import annotations

from nsscope.errors import BadInput, NsscopeError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    from nsscope.host.model import Container

#: the target forms: guessed, or said (pid:/ns: are the targets module's)
AUTO, ID, NAME = "auto", "id", "name"


def names(c: Container) -> tuple[str, ...]:
    """Every name ``c`` answers to: its own, and pod-qualified where it is in a pod."""
    out = [c.name]
    if c.pod:
        out.append(f"{c.pod}/{c.name}")
        if c.k8s_namespace:
            out.append(f"{c.k8s_namespace}/{c.pod}/{c.name}")
    return tuple(out)


def describe(c: Container) -> str:
    """'web (docker 657707ab12cd)', or 'runc walk-runc' when the id is the name."""
    if c.name == c.id or c.name == c.short_id:
        return f"{c.runtime} {c.id}"
    return f"{c.name} ({c.runtime} {c.short_id})"


def listing(cs: Iterable[Container]) -> str:
    """The containers described, in one order whoever found them (runtime, name, id)."""
    return ", ".join(describe(c) for c in sorted(cs, key=lambda c: (c.runtime, c.name, c.id)))


class Fit:
    """Which containers ``text`` fits, and how."""

    __slots__ = ("id_prefix", "ids", "name_prefix", "names")

    def __init__(self, cs: Iterable[Container], text: str) -> None:
        self.names: list[Container] = []
        self.ids: list[Container] = []
        self.id_prefix: list[Container] = []
        self.name_prefix: list[Container] = []
        if not text:
            return
        for c in cs:
            ns = names(c)
            if text in ns:
                self.names.append(c)
            elif any(n.startswith(text) for n in ns):
                self.name_prefix.append(c)
            if c.id == text:
                self.ids.append(c)
            elif not c.sandbox and c.id.startswith(text):
                self.id_prefix.append(c)

    def __bool__(self) -> bool:
        return bool(self.names or self.ids or self.id_prefix or self.name_prefix)

    def everyone(self) -> list[Container]:
        out: list[Container] = []
        for c in (*self.names, *self.ids, *self.id_prefix, *self.name_prefix):
            if c not in out:
                out.append(c)
        return out

    def how(self, text: str) -> str:
        """What fits, in words: 'the name of …, the id of …, the start of the id of …'."""
        parts = []
        told: list[Container] = []
        for what, cs in (("the name of", self.names), ("the id of", self.ids),
                         ("the start of the id of", self.id_prefix),
                         ("the start of the name of", self.name_prefix)):
            new = [c for c in cs if c not in told]  # a runc id is its name: said once
            if new:
                parts.append(f"{what} {listing(new)}")
                told += new
        return "; ".join(parts)


def choose(cs: Sequence[Container], text: str, kind: str = AUTO) -> Container:
    """The one container ``text`` names (``kind``: AUTO, ID or NAME); BadInput when it
    names several, NsscopeError when none."""
    fit = Fit(cs, text)
    if kind in (AUTO, NAME):
        if len(fit.names) == 1:
            return fit.names[0]
        if len(fit.names) > 1:
            raise BadInput(f"{text!r} names {len(fit.names)} containers: "
                           f"{listing(fit.names)}; give the id of the one you mean (id:ID)")
        if kind == NAME:
            raise NsscopeError(f"no container is named {text!r}" + _near(fit, text))
    if len(fit.ids) == 1:
        return fit.ids[0]
    if len(fit.ids) > 1:
        # ids of different runtimes can clash (a podman container is also in runc's state)
        pids = ", ".join(f"pid:{c.pid}" for c in fit.ids if c.pid is not None)
        raise BadInput(f"{text!r} is the id of {len(fit.ids)} containers: "
                       f"{listing(fit.ids)}; give the pid of the one you mean ({pids})")
    prefix_ok = fit.id_prefix and (kind == ID or not fit.name_prefix)
    if prefix_ok and len(fit.id_prefix) == 1:
        return fit.id_prefix[0]
    if kind == ID and fit.id_prefix:
        raise BadInput(f"{text!r} is the start of the ids of {len(fit.id_prefix)} "
                       f"containers: {listing(fit.id_prefix)}; give more of the id")
    if fit.id_prefix or fit.name_prefix:
        raise BadInput(f"{text!r} is no container's whole name or id, and it is "
                       f"{fit.how(text)}: give a whole name (name:NAME) or id (id:ID)")
    raise NsscopeError(f"no such container: {text}")


def _near(fit: Fit, text: str) -> str:
    """For name:TEXT that fits no name: what else TEXT is."""
    other = [c for c in fit.everyone() if c not in fit.names]
    return f" ({fit.how(text)})" if other else ""


def lookup(containers: Iterable[Container], text: str) -> Container:
    """``choose`` with the guessed form (kept for callers of the old name)."""
    return choose(list(containers), text, AUTO)

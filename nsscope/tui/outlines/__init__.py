"""The three trees of the left pane, as data: Containers, Namespaces, Cgroups.

An ``Outline`` says, for a ``Frame``, which entries are at the top and which
are below an entry; the tree widget asks only for the children of the nodes
that are expanded, so a host with 10,000 processes costs what is on screen.
Every entry has a key that stays the same from one frame to the next (the
widget updates the node with that key in place) and a ``Ref`` naming what it
shows (the details pane and the actions work from the ref).

Labels are ``rich.text.Text`` built with ``append``: process names and cgroup
paths are never parsed as markup.
"""

from nsscope.tui.outlines.base import NO_REF, PROC_LIMIT, Entry, Outline, Ref, filtered
from nsscope.tui.outlines.cgroups import CgroupsOutline
from nsscope.tui.outlines.containers import ContainersOutline
from nsscope.tui.outlines.namespaces import NamespacesOutline

#: the left pane's views, in the order of their keys (1, 2, 3)
OUTLINES: tuple[Outline, ...] = (ContainersOutline(), NamespacesOutline(), CgroupsOutline())

__all__ = ["NO_REF", "OUTLINES", "PROC_LIMIT", "Entry", "Outline", "Ref", "filtered"]

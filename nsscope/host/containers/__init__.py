"""Containers: which runtime made each isolated process, and under what name.

No daemon API is asked. A container is recognised from what the kernel shows
(the cgroup path of its processes, their namespaces, their parent: a
containerd shim or conmon) plus the runtime's own state files, read where the
runtime keeps them. Every path pattern below cites the runtime source that
makes it. Processes isolated by no known runtime (an ``unshare`` session,
bwrap, firejail, a browser sandbox) are grouped into *sandboxes* by their
namespaces, so nothing isolated is invisible.

``find`` is pure: it reads a ``Snapshot`` and files under injectable roots
(``StatePaths.under(prefix)`` for a captured tree), and changes nothing.

The names below are imported from their modules when first asked for (PEP 562
``__getattr__``): ``nsscope ls`` needs ``StatePaths`` (the collector's roots)
and none of the recogniser, whose modules are a few ms of start-up.
"""

import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from nsscope.host.containers.cgroup_names import match_cgroup, pod_of_cgroup
    from nsscope.host.containers.lookup import lookup
    from nsscope.host.containers.nsscope_runs import not_running
    from nsscope.host.containers.recognise import find
    from nsscope.host.containers.state_paths import StatePaths

#: exported name -> the module that defines it
_HOMES = {
    "match_cgroup": "cgroup_names", "pod_of_cgroup": "cgroup_names", "lookup": "lookup",
    "not_running": "nsscope_runs", "find": "recognise", "StatePaths": "state_paths",
}

__all__ = ["StatePaths", "find", "lookup", "match_cgroup", "not_running", "pod_of_cgroup"]


def __getattr__(name: str) -> object:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module = f"{__name__}.{home}"
    __import__(module)
    value = getattr(sys.modules[module], name)
    globals()[name] = value
    return value

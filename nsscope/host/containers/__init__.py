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
"""

from nsscope.host.containers.cgroup_names import match_cgroup, pod_of_cgroup
from nsscope.host.containers.lookup import lookup
from nsscope.host.containers.nsscope_runs import not_running
from nsscope.host.containers.recognise import find
from nsscope.host.containers.state_paths import StatePaths

__all__ = ["StatePaths", "find", "lookup", "match_cgroup", "not_running", "pod_of_cgroup"]

"""``lookup``: a container by name, pod-qualified name, full id or unique id prefix.

The rules live in ``nsscope.host.naming`` (outside this package, whose import
recognises every runtime: too heavy for ``nsscope enter NAME``).
"""

from nsscope.host.naming import lookup

__all__ = ["lookup"]

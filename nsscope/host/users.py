"""uid -> user name, cached (a snapshot asks for the same few uids thousands of times)."""

from __future__ import annotations

import functools
import pwd


@functools.lru_cache(maxsize=1024)
def user_name(uid: int) -> str:
    """The name in this host's passwd, else the number (as lsns and ps do)."""
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)

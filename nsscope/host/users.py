"""uid -> user name, cached (a snapshot asks for the same few uids thousands of times)."""

from __future__ import annotations

import pwd

# a plain dict, not functools.lru_cache: functools costs ~3 ms of start-up of
# every view, and a host has few distinct uids
_NAMES: dict[int, str] = {}


def user_name(uid: int) -> str:
    """The name in this host's passwd, else the number (as lsns and ps do)."""
    name = _NAMES.get(uid)
    if name is None:
        try:
            name = pwd.getpwuid(uid).pw_name
        except KeyError:
            name = str(uid)
        _NAMES[uid] = name
    return name

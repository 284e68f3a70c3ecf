"""``KeptFiles``: cgroup files read again and again through descriptors kept open.

One pread(2) at offset 0 instead of open+read+close: a quarter of the cost on
cgroupfs, whose seq_files generate their contents afresh on each read from
offset 0 (fs/kernfs/file.c, fs/seq_file.c). ``nsscope top`` (cpu_reader.py) and
the TUI's sampler read every cgroup's figures once a second this way.
"""

from __future__ import annotations

import os
import resource

from nsscope.host.cgroups import read_fd

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Collection, Iterable


#: the "round" a skipped file is marked absent in: never looked for again
_SKIPPED = 1 << 62


class KeptFiles:
    """``read(path)``: the text of a cgroup file, None if it cannot be read.

    A descriptor of a removed cgroup fails (ENODEV) and is reopened once (the
    cgroup may have been made again under the same path); files a cgroup lacks
    are looked for again every ``reprobe`` rounds (``next_round``). At most
    ``max_fds`` descriptors are kept; beyond, files are opened for each read.
    Files named in ``skip`` (e.g. "cpu.shares") are not read: None.
    """

    def __init__(self, *, max_fds: int | None = None, reprobe: int = 10,
                 skip: Collection[str] = ()) -> None:
        if max_fds is None:
            # half of what this process may open, the rest left to its caller
            max_fds = resource.getrlimit(resource.RLIMIT_NOFILE)[0] // 2
        self.max_fds = max_fds
        self.reprobe = reprobe
        self.skip = frozenset(skip)
        self._fds: dict[str, int] = {}
        self._absent: dict[str, int] = {}  # path -> round when it was missing
        self._n = 0

    def next_round(self) -> None:
        self._n += 1

    def read(self, path: str) -> str | None:
        fd = self._fds.get(path)
        if fd is None:
            when = self._absent.get(path)
            if when is not None and self._n - when < self.reprobe:
                return None
            if self.skip and path.rsplit("/", 1)[1] in self.skip:
                self._absent[path] = _SKIPPED  # not split again at every read
                return None
            if len(self._fds) >= self.max_fds:
                return self._read_once(path)
            fd = self._open(path)
            if fd is None:
                return None
            self._fds[path] = fd
        try:
            return _all(fd)
        except OSError:
            # the cgroup was removed (ENODEV), perhaps made again under the same path
            os.close(self._fds.pop(path))
            return self._read_once(path)

    def _read_once(self, path: str) -> str | None:
        """open, read, close: beyond ``max_fds``, or after a kept descriptor failed."""
        fd = self._open(path)
        if fd is None:
            return None
        try:
            return _all(fd)
        except OSError:
            return None
        finally:
            os.close(fd)

    def _open(self, path: str) -> int | None:
        """A descriptor of ``path``; None when it is missing (noted, to be looked for
        again ``reprobe`` rounds later)."""
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            self._absent[path] = self._n
            return None
        self._absent.pop(path, None)
        return fd

    def retry_absent(self) -> None:
        """Look for the missing files again at their next read (an action may have
        made them: enabling a controller makes cpu.max appear)."""
        self._absent.clear()

    def forget(self, dirs: Iterable[str]) -> None:
        """Close the descriptors (and forget the absences) of the files in these cgroup
        directories: a cgroup that is gone, whose path may be made again (its files are
        then looked for at once, not ``reprobe`` rounds later)."""
        dead = set(dirs)
        if dead:
            self._drop(lambda d: d in dead)

    def keep_only(self, dirs: Collection[str]) -> None:
        """Close the descriptors (and forget the absences) of files outside ``dirs``
        (``nsscope serve``: cgroups no longer asked for)."""
        self._drop(lambda d: d not in dirs)

    def _drop(self, which: Callable[[str], bool]) -> None:
        for f in [f for f in self._fds if which(f.rsplit("/", 1)[0])]:
            os.close(self._fds.pop(f))
        for f in [f for f in self._absent if which(f.rsplit("/", 1)[0])]:
            del self._absent[f]

    def close(self) -> None:
        for fd in self._fds.values():
            os.close(fd)
        self._fds.clear()

    def __len__(self) -> int:
        return len(self._fds)


def _all(fd: int) -> str:
    return read_fd(fd, pread=True).decode("utf-8", "replace")

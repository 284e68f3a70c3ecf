"""nsscope run's records of its own containers, written: state.json replaced
atomically, names reserved, state directories removed.

The reading half (and the layout of ``/run/nsscope``) is ``nsscope.host.runstate``.
"""

from __future__ import annotations

import errno
import os

from nsscope.errors import BadInput
from nsscope.host.runstate import RUN_DIR, container_dir, names_dir, read_json


def _quote(text: str) -> str:
    """A JSON string as json.dumps writes it (ensure_ascii). Most are printable
    ASCII without a quote or backslash, which need no escape; the others go to
    the C function json.dumps uses, loaded then (a shared library: not on every
    ``nsscope run``)."""
    if text.isascii() and text.isprintable() and '"' not in text and "\\" not in text:
        return f'"{text}"'
    try:
        from _json import encode_basestring_ascii
    except ImportError:  # not CPython
        from json.encoder import encode_basestring_ascii
    return encode_basestring_ascii(text)


# --- files ----------------------------------------------------------------------

def to_json(value, top: bool = True) -> str:
    """JSON text of dicts (sorted keys), lists/tuples, str, int, finite float, bool and
    None: json.dumps(value, sort_keys=True) in substance, a top-level dict one key a
    line. Not json.dumps, because importing json (its decoder's regular expressions
    and scanner) costs every ``nsscope run`` ~2 ms; the readers use json."""
    if value is None or value is True or value is False:
        return {None: "null", True: "true", False: "false"}[value]
    if isinstance(value, str):
        return _quote(value)
    if isinstance(value, int):
        return int.__repr__(value)
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise ValueError(f"not a JSON number: {value!r}")
        return float.__repr__(value)
    if isinstance(value, dict):
        items = [f"{_quote(str(k))}: {to_json(v, False)}" for k, v in sorted(value.items())]
        if top and items:
            return "{\n " + ",\n ".join(items) + "\n}"
        return "{" + ", ".join(items) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(to_json(v, False) for v in value) + "]"
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def write_json(path: str, data: dict) -> None:
    """Replace ``path`` atomically (a reader sees the old or the new file, never half)."""
    tmp = f"{path}.{os.getpid()}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
    try:
        os.write(fd, to_json(data).encode() + b"\n")
    finally:
        os.close(fd)
    os.replace(tmp, path)


def update_state(cdir: str, **changes) -> dict:
    """Merge ``changes`` into state.json (only the container's supervisor writes it)."""
    path = os.path.join(cdir, "state.json")
    st = read_json(path) or {}
    st.update(changes)
    write_json(path, st)
    return st


def remove_tree(path: str) -> None:
    """``rm -rf`` of a state directory, never following a symlink: each step is taken
    relative to an fd of the directory above (openat with O_NOFOLLOW), so what the
    container wrote into its upper layer cannot point the removal elsewhere;
    shutil.rmtree's fd-based walk, without importing shutil (bz2, lzma, fnmatch and
    re: ~7 ms of every ``--rm``). What this cannot remove is left to shutil."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except FileNotFoundError:
        return
    try:
        try:
            _empty_dir(fd)
        finally:
            os.close(fd)
        os.rmdir(path)
    except OSError:
        import shutil
        shutil.rmtree(path, ignore_errors=True)


def _empty_dir(fd: int) -> None:
    with os.scandir(fd) as it:
        entries = [(e.name, e.is_dir(follow_symlinks=False)) for e in it]
    for name, is_dir in entries:
        if not is_dir:
            os.unlink(name, dir_fd=fd)
            continue
        sub = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC,
                      dir_fd=fd)
        try:
            _empty_dir(sub)
        finally:
            os.close(sub)
        os.rmdir(name, dir_fd=fd)


# --- names --------------------------------------------------------------------------

def reserve_name(name: str, cid: str, run_dir: str = RUN_DIR) -> None:
    """Take ``name`` for ``cid``; BadInput if a live container has it."""
    d = names_dir(run_dir)
    os.makedirs(d, mode=0o700, exist_ok=True)
    link = os.path.join(d, name)
    for _ in range(2):
        try:
            os.symlink(cid, link)
            return
        except FileExistsError:
            pass
        try:
            owner = os.readlink(link)
        except FileNotFoundError:
            continue
        if os.path.isdir(container_dir(owner, run_dir)):
            raise BadInput(f"the name {name!r} is taken by container {owner[:12]} "
                           f"(nsscope rm {name})")
        release_name(name, owner, run_dir)  # left by a removed container
    raise BadInput(f"the name {name!r} is being taken by another run")


def release_name(name: str, cid: str, run_dir: str = RUN_DIR) -> None:
    """Remove the name link if it still points at ``cid``."""
    link = os.path.join(names_dir(run_dir), name)
    try:
        if os.readlink(link) == cid:
            os.unlink(link)
    except OSError as e:
        if e.errno not in (errno.ENOENT, errno.EINVAL):
            raise


def stale_names(run_dir: str = RUN_DIR) -> list[str]:
    """Name links whose container directory is gone."""
    out: list[str] = []
    try:
        names = os.listdir(names_dir(run_dir))
    except FileNotFoundError:
        return out
    for name in names:
        try:
            cid = os.readlink(os.path.join(names_dir(run_dir), name))
        except OSError:
            continue
        if not os.path.isdir(container_dir(cid, run_dir)):
            out.append(name)
    return out

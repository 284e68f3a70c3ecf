"""Where a container's / comes from: a directory, the busybox cache, or an image tar.

- ``--busybox``: a minimal root built once from the host's busybox-static
  (one static binary and a symlink per applet, as RUNTIMES.md's recipe, minus its
  bug: ``busybox --list`` names ``busybox`` itself, whose symlink would replace the
  binary) and cached under ``/var/cache/nsscope``.
- ``--image TAR``: extracted once per content digest, refusing what could escape
  the target (absolute or ``..`` paths, hard links out of it, writing through a
  symlink the archive planted) and skipping device nodes and fifos. setuid and
  setgid bits are dropped: the cache is a root-owned directory on the host.
- the container writes to an overlayfs upper layer in its state directory, so
  the directory, the cache or the image stays pristine.

Caches are built in a temporary directory and renamed into place, so
concurrent first runs never see half a rootfs. When ``/var/cache`` is read-only
(the cgroup-v2 test VM shares the host's / read-only) the cache falls back to
``<run dir>/cache``. The builders import shutil, tempfile, tarfile … themselves:
the warm path, taken by every run, is a stat or two.
"""

from __future__ import annotations

import errno
import os
import stat

from nsscope.errors import BadInput, NsscopeError

CACHE_DIR = "/var/cache/nsscope"

_PASSWD = "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"
_GROUP = "root:x:0:\ntty:x:5:\nnogroup:x:65534:\n"
_HOSTS = "127.0.0.1\tlocalhost\n::1\tlocalhost\n"
_BUSYBOX_DIRS = ("bin", "sbin", "etc", "proc", "sys", "dev", "tmp", "root", "run", "var",
                 "usr/bin", "usr/sbin", "home")


def _cache_bases(cache_dir: str, run_dir: str) -> list[str]:
    return [cache_dir, os.path.join(run_dir, "cache")]


def _writable_base(cache_dir: str, run_dir: str, sub: str) -> str:
    """The first cache base where ``sub`` can be created (EROFS falls back)."""
    import tempfile
    last: OSError | None = None
    for base in _cache_bases(cache_dir, run_dir):
        d = os.path.join(base, sub)
        try:
            os.makedirs(d, mode=0o700, exist_ok=True)
            probe = tempfile.mkdtemp(prefix=".probe-", dir=d)
            os.rmdir(probe)
            return d
        except OSError as e:
            last = e
    raise NsscopeError(f"cannot create a cache directory under {cache_dir}: "
                       f"{last.strerror if last else 'unknown error'}")


def _install(tmp: str, target: str) -> str:
    """rename ``tmp`` to ``target``; if a concurrent build won, keep theirs."""
    import shutil
    os.chmod(tmp, 0o755)
    try:
        os.rename(tmp, target)
    except OSError as e:
        if e.errno not in (errno.EEXIST, errno.ENOTEMPTY):
            raise
        shutil.rmtree(tmp, ignore_errors=True)
    return target


# --- busybox --------------------------------------------------------------------

def find_busybox() -> str:
    # PATH by hand: os.get_exec_path() imports warnings (~0.3 ms of every run)
    for d in ["/bin", "/usr/bin", *os.environ.get("PATH", os.defpath).split(os.pathsep)]:
        path = os.path.join(d, "busybox")
        if os.path.isfile(path):
            return os.path.realpath(path)
    raise NsscopeError("--busybox needs the host's busybox-static (apt-get install "
                       "busybox-static)")


def is_static_elf(path: str) -> bool:
    """No PT_INTERP program header: the binary needs no dynamic loader (elf(5))."""
    with open(path, "rb") as f:
        ident = f.read(64)
        if ident[:4] != b"\x7fELF":
            return False
        is64, little = ident[4] == 2, ident[5] == 1

        def field(data: bytes, offset: int, size: int) -> int:
            return int.from_bytes(data[offset:offset + size], "little" if little else "big")
        if is64:
            phoff, phentsize, phnum = field(ident, 0x20, 8), field(ident, 0x36, 2), \
                field(ident, 0x38, 2)
        else:
            phoff, phentsize, phnum = field(ident, 0x1C, 4), field(ident, 0x2A, 2), \
                field(ident, 0x2C, 2)
        f.seek(phoff)
        table = f.read(phentsize * phnum)
    # PT_INTERP (3) in p_type, the first word of a program header
    return all(field(table, i * phentsize, 4) != 3 for i in range(phnum))


def busybox_rootfs(cache_dir: str = CACHE_DIR, run_dir: str = "/run/nsscope") -> str:
    """The cached busybox root (built on first use); keyed by the binary's size and mtime."""
    busybox = find_busybox()
    st = os.stat(busybox)
    key = f"busybox-{st.st_size}-{st.st_mtime_ns}"
    for base in _cache_bases(cache_dir, run_dir):
        target = os.path.join(base, "busybox", key)
        if os.path.isdir(target):
            return target
    if not is_static_elf(busybox):
        raise NsscopeError(f"{busybox} is dynamically linked; --busybox needs busybox-static "
                           "(apt-get install busybox-static)")
    import shutil
    import tempfile
    base = _writable_base(cache_dir, run_dir, "busybox")
    tmp = tempfile.mkdtemp(prefix=".build-", dir=base)
    try:
        for d in _BUSYBOX_DIRS:
            os.makedirs(os.path.join(tmp, d), mode=0o755, exist_ok=True)
        os.chmod(os.path.join(tmp, "tmp"), 0o1777)
        os.chmod(os.path.join(tmp, "root"), 0o700)
        shutil.copyfile(busybox, os.path.join(tmp, "bin", "busybox"))
        os.chmod(os.path.join(tmp, "bin", "busybox"), 0o755)
        import subprocess
        applets = subprocess.run([busybox, "--list"], capture_output=True, text=True,
                                 check=True).stdout.split()
        for applet in applets:
            if applet != "busybox" and "/" not in applet:
                os.symlink("busybox", os.path.join(tmp, "bin", applet))
        for name, text in (("passwd", _PASSWD), ("group", _GROUP), ("hosts", _HOSTS)):
            with open(os.path.join(tmp, "etc", name), "w") as f:
                f.write(text)
        return _install(tmp, os.path.join(base, key))
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


# --- images ---------------------------------------------------------------------

def _digest(path: str) -> str:
    import hashlib
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def _inside(name: str) -> str:
    """An archive path made relative to the target ("." for the target itself); the
    caller has refused ".." components, so normalising cannot climb out."""
    name = os.path.normpath("/" + name).lstrip("/")
    return name or "."


def _check_parents(root: str, rel: str) -> None:
    """Every existing directory on the way to ``rel`` is a real directory, never a
    symlink: an archive could plant ``etc -> /etc`` and then write ``etc/passwd``."""
    path = root
    for part in rel.split("/")[:-1]:
        path = os.path.join(path, part)
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            return
        if not stat.S_ISDIR(st.st_mode):
            raise NsscopeError(f"image: {rel!r} would be written through a symlink or file "
                               f"({os.path.relpath(path, root)!r}); refusing the archive")


def safe_members(tf, root: str):
    """The archive's members, checked and rewritten to stay inside ``root``."""
    import shutil
    for m in tf:
        raw = m.name
        if raw.startswith("/") or ".." in raw.split("/"):
            raise NsscopeError(f"image: the path {raw!r} escapes the target; refusing the "
                               "archive")
        rel = _inside(raw)
        if rel == ".":
            continue
        if m.ischr() or m.isblk() or m.isfifo() or not (m.isreg() or m.isdir() or m.issym()
                                                        or m.islnk()):
            continue  # no device nodes (and no fifos) from an image; /dev is made at run
        _check_parents(root, rel)
        target = os.path.join(root, rel)
        if m.islnk():
            link = m.linkname
            if ".." in link.split("/"):
                raise NsscopeError(f"image: the hard link {raw!r} -> {link!r} escapes the "
                                   "target; refusing the archive")
            link_rel = _inside(link)
            _check_parents(root, link_rel)
            src = os.path.join(root, link_rel)
            if not os.path.isfile(src) or os.path.islink(src):
                raise NsscopeError(f"image: the hard link {raw!r} -> {link!r} points at no "
                                   "regular file of the archive; refusing it")
            m.linkname = link_rel
        # whatever is at the target and is not a directory to merge into is replaced,
        # never followed (tar's default --unlink-first for files)
        try:
            st = os.lstat(target)
        except FileNotFoundError:
            st = None
        if st is not None and not (m.isdir() and stat.S_ISDIR(st.st_mode)):
            if stat.S_ISDIR(st.st_mode):
                shutil.rmtree(target)
            else:
                os.unlink(target)
        m.name = rel
        m.mode &= 0o1777  # drop setuid/setgid
        yield m


def image_rootfs(tar_path: str, cache_dir: str = CACHE_DIR,
                 run_dir: str = "/run/nsscope") -> str:
    """The cached extraction of ``tar_path`` (any compression tarfile reads)."""
    import shutil
    import tarfile
    import tempfile
    try:
        digest = _digest(tar_path)
    except OSError as e:
        raise BadInput(f"--image: cannot read {tar_path}: {e.strerror}") from None
    for base in _cache_bases(cache_dir, run_dir):
        target = os.path.join(base, "images", digest[:32])
        if os.path.isdir(target):
            return target
    base = _writable_base(cache_dir, run_dir, "images")
    tmp = tempfile.mkdtemp(prefix=".extract-", dir=base)
    # the filter argument exists since 3.12 (and 3.10.12/3.11.4 backports); the
    # members are checked by safe_members, so no further filter is wanted
    kw: dict = {"filter": "fully_trusted"} if hasattr(tarfile, "fully_trusted_filter") else {}
    try:
        try:
            with tarfile.open(tar_path) as tf:
                for m in safe_members(tf, tmp):
                    tf.extract(m, tmp, set_attrs=True, numeric_owner=True, **kw)
        except tarfile.TarError as e:
            # tarfile's message lists every compression it tried, one per line
            raise BadInput(f"--image: {tar_path} is not a tar archive (plain, gzip, bzip2 "
                           f"or xz) that can be read: {str(e).splitlines()[-1]}") from None
        return _install(tmp, os.path.join(base, digest[:32]))
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


# --- per-container layers -------------------------------------------------------

def make_layers(cdir: str, owner: tuple[int, int] | None = None) -> dict[str, str]:
    """overlayfs upper/work dirs and the mountpoint in the container's state dir.

    ``owner``: the host (uid, gid) of the container's root when a user namespace
    maps it elsewhere, so its root can write the upper layer.
    """
    layers = {name: os.path.join(cdir, name) for name in ("upper", "work", "rootfs")}
    for path in layers.values():
        os.mkdir(path, 0o755)
        if owner is not None:
            os.chown(path, *owner)
    return layers


def resolve(spec_kind: str, rootfs: str | None, image: str | None,
            cache_dir: str = CACHE_DIR, run_dir: str = "/run/nsscope") -> str | None:
    """The lower directory for a spec's rootfs option (building caches if needed)."""
    if spec_kind == "busybox":
        return busybox_rootfs(cache_dir, run_dir)
    if spec_kind == "image":
        assert image is not None
        return image_rootfs(image, cache_dir, run_dir)
    return rootfs

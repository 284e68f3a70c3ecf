"""A read-only reader of BoltDB files (go.etcd.io/bbolt, format version 2): podman keeps
its containers' state in one (``<graph root>/libpod/bolt_state.db``, podman_state.py).

The file is read whole, without a lock (podman holds bbolt's flock while it writes):
a read can race a write, so everything is checked and a file that does not hold
together raises ``BoltError``, never anything else. The file is root's, but its
bytes are treated as hostile input: every offset, length, count and depth is bounded
before it is used, and a page is visited a bounded number of times.

The layout, from bbolt (v1.3, the one podman 4 vendors):

- page header (page.go ``page``): id u64, flags u16, count u16, overflow u32; a page
  ``n`` starts at ``n * pageSize`` and spans ``1 + overflow`` pages. Flags: branch
  0x01, leaf 0x02, meta 0x04, freelist 0x10.
- pages 0 and 1 hold a meta after the header (db.go ``meta``): magic 0xED0CDAED, version
  2, pageSize, flags u32, the root bucket (root pgid u64, sequence u64), freelist pgid,
  high-water pgid, txid u64, checksum u64 = FNV-64a of the bytes before it
  (``meta.sum64``). bbolt writes the two alternately (``meta.write``: page txid % 2)
  and opens with the valid one of the higher txid (``DB.meta``); so does this reader,
  and it falls back on the other.
- branch element (``branchPageElement``): pos u32, ksize u32, pgid u64; leaf element
  (``leafPageElement``): flags u32, pos u32, ksize u32, vsize u32. ``pos`` counts from
  the element itself; the value follows the key.
- a leaf element with flag 0x01 (``bucketLeafFlag``) is a nested bucket: its value is
  the bucket header (bucket.go ``bucket``: root pgid u64, sequence u64); root 0 means
  an inline bucket, whose leaf page follows the header inside the value
  (``Bucket.openBucket``).
"""

from __future__ import annotations

import os
import struct

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator

MAGIC = 0xED0CDAED
VERSION = 2
PAGE_HEADER = 16
ELEMENT = 16  # both element kinds are 16 bytes
META = 64  # magic … checksum
BRANCH, LEAF, META_PAGE = 0x01, 0x02, 0x04
BUCKET_LEAF = 0x01
BUCKET_HEADER = 16

#: bigger than any state database of podman (a container's record is a few kB)
MAX_FILE = 256 << 20
#: bbolt keeps a B+tree balanced; 32 levels are far beyond any real file
MAX_DEPTH = 32
#: buckets in buckets (podman nests three deep)
MAX_NESTING = 16
#: page sizes bbolt may have used (os.Getpagesize at creation; DB.Options.PageSize)
PAGE_SIZES = (4096, 8192, 16384, 32768, 65536)

_U64 = struct.Struct("<Q")
_PAGE = struct.Struct("<QHHI")
_META = struct.Struct("<IIIIQQQQQQ")
_LEAF = struct.Struct("<IIII")
_BRANCH = struct.Struct("<IIQ")


class BoltError(ValueError):
    """Not a BoltDB file, or one caught mid-write, or a damaged one."""


def fnv64a(data: bytes) -> int:
    """FNV-1a, 64 bits (Go hash/fnv New64a), bbolt's meta checksum."""
    h = 0xCBF29CE484222325
    for b in data:
        h = ((h ^ b) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h


class Meta:
    __slots__ = ("high_water", "page_size", "root", "txid")

    def __init__(self, page_size: int, root: int, high_water: int, txid: int) -> None:
        self.page_size = page_size
        self.root = root
        self.high_water = high_water
        self.txid = txid


def _meta_at(data: bytes, offset: int) -> Meta | None:
    """The meta at ``offset`` (a page's start), if it is whole and its checksum holds."""
    end = offset + PAGE_HEADER + META
    if offset < 0 or end > len(data):
        return None
    _pgid, flags, _count, _overflow = _PAGE.unpack_from(data, offset)
    if not flags & META_PAGE:
        return None
    (magic, version, page_size, _flags, root, _seq, _freelist, high_water, txid,
     checksum) = _META.unpack_from(data, offset + PAGE_HEADER)
    if magic != MAGIC or version != VERSION or page_size not in PAGE_SIZES:
        return None
    if fnv64a(data[offset + PAGE_HEADER:offset + PAGE_HEADER + META - 8]) != checksum:
        return None
    return Meta(page_size, root, high_water, txid)


def metas(data: bytes) -> list[Meta]:
    """The valid metas of a file, the newest first (bbolt DB.meta: the higher txid)."""
    found = []
    m0 = _meta_at(data, 0)
    if m0 is not None:
        found.append(m0)
    # meta 1 is one page further; if meta 0 is torn its page size is not known:
    # bbolt tries the OS page size (db.go getPageSize), this tries each likely one
    for size in (m0.page_size,) if m0 else PAGE_SIZES:
        m1 = _meta_at(data, size)
        if m1 is not None and m1.page_size == size:
            found.append(m1)
            break
    return sorted(found, key=lambda m: m.txid, reverse=True)


class _Walk:
    """One reading of a file through one meta: a budget of page visits shared by
    every bucket opened from it (a crafted tree whose branches all point at one page
    would otherwise be walked exponentially often)."""

    __slots__ = ("budget", "data", "meta")

    def __init__(self, data: bytes, meta: Meta) -> None:
        self.data = data
        self.meta = meta
        self.budget = 4 * (len(data) // meta.page_size) + 64

    def page(self, pgid: int) -> tuple[int, int, int, int]:
        """(start, end, flags, count) of page ``pgid``, checked."""
        self.budget -= 1
        if self.budget < 0:
            raise BoltError("too many page visits: a cycle or a crafted tree")
        size = self.meta.page_size
        if pgid < 2 or pgid >= self.meta.high_water:
            raise BoltError(f"page {pgid} is out of the file's range")
        start = pgid * size
        if start + PAGE_HEADER > len(self.data):
            raise BoltError(f"page {pgid} is beyond the end of the file (truncated?)")
        pid, flags, count, overflow = _PAGE.unpack_from(self.data, start)
        if pid != pgid:
            # a page freed and rewritten since this meta was written: a racing write
            raise BoltError(f"page {pgid} says it is page {pid} (written meanwhile?)")
        end = start + (1 + overflow) * size
        if pgid + overflow >= self.meta.high_water or end > len(self.data):
            raise BoltError(f"page {pgid} overflows the file")
        return start, end, flags, count


class Bucket:
    """A bucket's keys: plain values and nested buckets."""

    __slots__ = ("_entries", "_walk", "depth")

    def __init__(self, walk: _Walk, entries: dict[bytes, tuple[int, bytes]],
                 depth: int) -> None:
        self._walk = walk
        self._entries = entries
        self.depth = depth

    def keys(self) -> list[bytes]:
        return sorted(self._entries)

    def get(self, key: bytes) -> bytes | None:
        """The value of ``key``, None if absent or if it is a bucket."""
        e = self._entries.get(key)
        return e[1] if e is not None and not e[0] & BUCKET_LEAF else None

    def bucket(self, key: bytes) -> Bucket | None:
        """The nested bucket ``key``, None if absent or a plain value."""
        e = self._entries.get(key)
        if e is None or not e[0] & BUCKET_LEAF:
            return None
        return _open(self._walk, e[1], self.depth + 1)

    def buckets(self) -> Iterator[tuple[bytes, Bucket]]:
        for key in self.keys():
            b = self.bucket(key)
            if b is not None:
                yield key, b


def _leaf(data: bytes, start: int, end: int, count: int,
          out: dict[bytes, tuple[int, bytes]]) -> None:
    if start + PAGE_HEADER + count * ELEMENT > end:
        raise BoltError("leaf elements run past their page")
    for i in range(count):
        at = start + PAGE_HEADER + i * ELEMENT
        flags, pos, ksize, vsize = _LEAF.unpack_from(data, at)
        k = at + pos
        v = k + ksize
        if v + vsize > end:
            raise BoltError("a leaf key or value runs past its page")
        out[bytes(data[k:v])] = (flags, bytes(data[v:v + vsize]))


def _collect(walk: _Walk, pgid: int, depth: int, out: dict[bytes, tuple[int, bytes]]) -> None:
    if depth > MAX_DEPTH:
        raise BoltError("a B+tree deeper than any bbolt writes")
    start, end, flags, count = walk.page(pgid)
    data = walk.data
    if flags & LEAF:
        _leaf(data, start, end, count, out)
        return
    if not flags & BRANCH:
        raise BoltError(f"page {pgid} is neither a branch nor a leaf (flags {flags:#x})")
    if start + PAGE_HEADER + count * ELEMENT > end:
        raise BoltError("branch elements run past their page")
    for i in range(count):
        _pos, _ksize, child = _BRANCH.unpack_from(data, start + PAGE_HEADER + i * ELEMENT)
        _collect(walk, child, depth + 1, out)


def _open(walk: _Walk, header: bytes, depth: int) -> Bucket:
    """A bucket from its header (a leaf value with the bucket flag)."""
    if depth > MAX_NESTING:
        raise BoltError("buckets nested deeper than any podman writes")
    if len(header) < BUCKET_HEADER:
        raise BoltError("a bucket header is cut short")
    (root,) = _U64.unpack_from(header, 0)
    entries: dict[bytes, tuple[int, bytes]] = {}
    if root == 0:
        # an inline bucket: one leaf page inside the value (bucket.go openBucket)
        page = header[BUCKET_HEADER:]
        if len(page) < PAGE_HEADER:
            raise BoltError("an inline bucket is cut short")
        _pid, flags, count, _overflow = _PAGE.unpack_from(page, 0)
        if not flags & LEAF:
            raise BoltError("an inline bucket's page is not a leaf")
        _leaf(page, 0, len(page), count, entries)
    else:
        _collect(walk, root, 0, entries)
    return Bucket(walk, entries, depth)


def root_bucket(data: bytes, meta: Meta) -> Bucket:
    """The root bucket of ``data`` as ``meta`` describes it (its keys are the
    top-level buckets)."""
    walk = _Walk(data, meta)
    entries: dict[bytes, tuple[int, bytes]] = {}
    _collect(walk, meta.root, 0, entries)
    return Bucket(walk, entries, 0)


def read_file(path: str) -> bytes:
    """The whole file, read-only, without taking bbolt's lock (podman holds it)."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
    try:
        size = os.fstat(fd).st_size
        if size > MAX_FILE:
            raise BoltError(f"{path}: {size} bytes, larger than any state database")
        chunks = []
        left = size
        while left > 0:
            chunk = os.read(fd, min(left, 1 << 20))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)

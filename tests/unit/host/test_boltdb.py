"""The read-only BoltDB reader (host/containers/boltdb.py) and podman's state database
read through it (host/containers/podman_state.py).

The oracle is a real ``bolt_state.db`` written by podman 4.3.1 on this host, and what
podman itself listed from it (tests/fixtures/podman: make_bolt_state.py says how both
were made). Damaged copies of it (cut short, bytes flipped) and crafted files (cycles,
shared subtrees, endless nesting, lying lengths) must raise the reader's own error,
never anything else, and never hang."""

from __future__ import annotations

import json
import shutil
import sqlite3
import struct

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from nsscope.host.containers import boltdb, podman_state
from nsscope.host.containers.files import rfc3339

from support import FIXTURES

PODMAN = FIXTURES / "podman"
DB = PODMAN / "bolt_state.db"
DATA = DB.read_bytes()
EXPECTED = {c["Names"][0]: c for c in json.loads((PODMAN / "expected.json").read_text())}
PAGE = 4096


def _by_name(records: list[podman_state.Record]) -> dict[str, podman_state.Record]:
    return {r.config["name"]: r for r in records}


def test_reads_podmans_database_as_podman_lists_it():
    got = _by_name(podman_state.read_bolt(str(DB)))
    assert set(got) == set(EXPECTED) == {"fx-exit3", "fx-killed", "fx-created"}
    for name, want in EXPECTED.items():
        cfg, state = got[name].config, got[name].state
        assert cfg["id"] == want["Id"]
        assert cfg["rootfsImageName"] == want["Image"]
        assert cfg["spec"]["process"]["args"] == want["Command"]
        assert int(rfc3339(cfg["createdTime"]) or 0) == want["Created"]
        # podman ps's State word for the ContainerStatus number (containerstate.go)
        assert podman_state.STATE_WORDS[state["state"]] == want["State"]
        if want["Exited"]:
            assert state["exitCode"] == want["ExitCode"]
            assert int(rfc3339(state["finishedTime"]) or 0) == want["ExitedAt"]
        else:
            assert rfc3339(state["finishedTime"]) is None  # Go's zero time: never ended
    assert got["fx-exit3"].state["exitCode"] == 3
    assert got["fx-killed"].state["exitCode"] == 137


def test_the_bucket_tree_as_libpod_lays_it_out():
    meta = boltdb.metas(DATA)[0]
    root = boltdb.root_bucket(DATA, meta)
    assert {b"ctr", b"all-ctrs", b"id-registry", b"name-registry"} <= set(root.keys())
    ids = {want["Id"].encode() for want in EXPECTED.values()}
    ctr = root.bucket(b"ctr")
    assert ctr is not None and set(ctr.keys()) == ids
    assert root.get(b"ctr") is None  # a bucket is no value
    for _cid, bucket in ctr.buckets():
        assert {b"config", b"state"} <= set(bucket.keys())
        assert bucket.bucket(b"config") is None  # a value is no bucket
    names = root.bucket(b"name-registry")
    assert names is not None
    assert {names.get(n.encode()) for n in EXPECTED} == ids


def test_the_newest_valid_meta_is_read_and_the_other_when_it_is_torn():
    m0, m1 = boltdb.metas(DATA)
    assert m0.txid == m1.txid + 1
    torn = bytearray(DATA)
    torn[PAGE * (m0.txid % 2) + 16 + 48] ^= 0x01  # a bit of the newest meta's txid
    assert [m.txid for m in boltdb.metas(bytes(torn))] == [m1.txid]
    # the older meta is the database one write earlier: before fx-created was made
    assert set(_by_name(podman_state.from_bolt_bytes(bytes(torn)))) == {"fx-exit3", "fx-killed"}


def _reads_or_refuses(data: bytes) -> None:
    """The one contract for damaged input: records, or PodmanDBError; nothing else."""
    try:
        records = podman_state.from_bolt_bytes(data)
    except podman_state.PodmanDBError:
        return
    for r in records:
        assert isinstance(r.config, dict) and isinstance(r.state, dict)


@pytest.mark.parametrize("size", sorted({*range(0, len(DATA), 509),
                                         *(p * PAGE + d for p in range(len(DATA) // PAGE)
                                           for d in (-1, 0, 1, 16, 17) if p * PAGE + d >= 0)}))
def test_cut_short_anywhere(size):
    _reads_or_refuses(DATA[:size])


@settings(max_examples=300)
@given(st.lists(st.tuples(st.integers(0, len(DATA) - 1), st.integers(1, 255)), min_size=1,
                max_size=8))
@example([(PAGE * 4 + 16 + 4, 0xFF)])       # a leaf element's pos in the root page
@example([(PAGE * 4 + 16 + 12, 0x80)])      # a leaf element's vsize
@example([(PAGE * 2 + 8, 0x01)])            # a page's flags
@example([(PAGE * 4 + 10, 0x40)])           # a page's count
def test_bytes_flipped_anywhere(flips):
    data = bytearray(DATA)
    for at, xor in flips:
        data[at] ^= xor
    _reads_or_refuses(bytes(data))


# --- crafted files ------------------------------------------------------------------

def _page(pgid: int, flags: int, elements: list[bytes], payload: list[bytes],
          overflow: int = 0, size: int = PAGE) -> bytes:
    """A page: header, 16-byte elements, then their keys and values (``pos`` counted
    from each element, as bbolt does)."""
    head = struct.pack("<QHHI", pgid, flags, len(elements), overflow)
    out = bytearray(head + b"".join(elements))
    for i, blob in enumerate(payload):
        at = len(head) + 16 * i
        out[at:at + 16] = _patch_pos(elements[i], flags, len(out) - at)
        out += blob
    return bytes(out).ljust(size, b"\0") if size else bytes(out)


def _patch_pos(element: bytes, flags: int, pos: int) -> bytes:
    if flags & boltdb.LEAF:
        f, _, k, v = struct.unpack("<IIII", element)
        return struct.pack("<IIII", f, pos, k, v)
    _, k, child = struct.unpack("<IIQ", element)
    return struct.pack("<IIQ", pos, k, child)


def _leaf(pgid: int, items: list[tuple[int, bytes, bytes]], size: int = PAGE) -> bytes:
    return _page(pgid, boltdb.LEAF, [struct.pack("<IIII", f, 0, len(k), len(v))
                                     for f, k, v in items],
                 [k + v for _, k, v in items], size=size)


def _branch(pgid: int, children: list[int]) -> bytes:
    keys = [b"k%d" % i for i in range(len(children))]
    return _page(pgid, boltdb.BRANCH, [struct.pack("<IIQ", 0, len(k), c)
                                       for k, c in zip(keys, children, strict=True)], keys)


def _meta(pgid: int, root: int, high_water: int, txid: int) -> bytes:
    body = struct.pack("<IIIIQQQQQ", boltdb.MAGIC, boltdb.VERSION, PAGE, 0, root, 0, 0,
                       high_water, txid)
    body += struct.pack("<Q", boltdb.fnv64a(body))
    return (struct.pack("<QHHI", pgid, boltdb.META_PAGE, 0, 0) + body).ljust(PAGE, b"\0")


def _file(root: int, pages: list[bytes]) -> bytes:
    high = 2 + len(pages)
    return _meta(0, root, high, 2) + _meta(1, root, high, 1) + b"".join(pages)


def test_a_crafted_file_reads_like_a_real_one():
    """The crafting helpers agree with the reader (else the tests below prove nothing)."""
    state = json.dumps({"state": 6, "exitCode": 9}).encode()
    config = json.dumps({"id": "ab" * 32, "name": "crafted"}).encode()
    inline = _leaf(0, [(0, b"config", config), (0, b"state", state)], size=0)
    ctr = _leaf(3, [(boltdb.BUCKET_LEAF, b"ab" * 32, struct.pack("<QQ", 0, 0) + inline)])
    data = _file(2, [_leaf(2, [(boltdb.BUCKET_LEAF, b"ctr", struct.pack("<QQ", 3, 0))]), ctr])
    (rec,) = podman_state.from_bolt_bytes(data)
    assert (rec.config["name"], rec.state["exitCode"]) == ("crafted", 9)


def test_a_branch_that_points_at_itself_is_refused():
    data = _file(2, [_branch(2, [2])])
    with pytest.raises(boltdb.BoltError):
        boltdb.root_bucket(data, boltdb.metas(data)[0])


def test_shared_subtrees_are_walked_a_bounded_number_of_times():
    """Each branch points 200 times at the next: 200**4 leaf visits unbounded."""
    pages = [_branch(2 + i, [3 + i] * 200) for i in range(4)] + [_leaf(6, [(0, b"k", b"v")])]
    data = _file(2, pages)
    with pytest.raises(boltdb.BoltError, match="too many page visits"):
        boltdb.root_bucket(data, boltdb.metas(data)[0])


def test_buckets_nested_without_end_are_refused():
    inner = _leaf(0, [(0, b"k", b"v")], size=0)
    for _ in range(40):
        inner = _leaf(0, [(boltdb.BUCKET_LEAF, b"x", struct.pack("<QQ", 0, 0) + inner)],
                      size=0)
    data = _file(2, [_leaf(2, [(boltdb.BUCKET_LEAF, b"x", struct.pack("<QQ", 0, 0) + inner)])])
    bucket: boltdb.Bucket | None = boltdb.root_bucket(data, boltdb.metas(data)[0])
    with pytest.raises(boltdb.BoltError, match="nested"):
        while bucket is not None:
            bucket = bucket.bucket(b"x")


@pytest.mark.parametrize("page", [
    _leaf(2, [(0, b"k", b"v" * 100)]).replace(struct.pack("<IIII", 0, 16, 1, 100),
                                              struct.pack("<IIII", 0, 16, 1, 1 << 31)),
    _page(2, boltdb.LEAF, [], [], overflow=1 << 30),
    struct.pack("<QHHI", 2, boltdb.LEAF, 0xFFFF, 0).ljust(PAGE, b"\0"),
    struct.pack("<QHHI", 2, 0x10, 0, 0).ljust(PAGE, b"\0"),  # a freelist page as a root
    struct.pack("<QHHI", 7, boltdb.LEAF, 0, 0).ljust(PAGE, b"\0"),  # says it is page 7
    _branch(2, [1 << 60]),
], ids=["value-length", "overflow", "count", "not-a-tree-page", "wrong-id", "child-far"])
def test_lying_lengths_and_ids_are_refused(page):
    data = _file(2, [page])
    with pytest.raises(boltdb.BoltError):
        boltdb.root_bucket(data, boltdb.metas(data)[0])


@pytest.mark.parametrize("data", [b"", b"\0" * 3 * PAGE, b"not a database\n" * 1000,
                                  DATA[PAGE * 2:]], ids=["empty", "zeros", "text", "no-metas"])
def test_not_a_bolt_file(data):
    assert boltdb.metas(data) == []
    with pytest.raises(podman_state.PodmanDBError):
        podman_state.from_bolt_bytes(data)


def test_a_file_larger_than_any_state_database_is_not_read(tmp_path):
    big = tmp_path / "bolt_state.db"
    with open(big, "wb") as f:
        f.truncate(boltdb.MAX_FILE + 1)  # sparse: no disk used
    with pytest.raises(boltdb.BoltError):
        boltdb.read_file(str(big))


def test_the_graph_root_prefers_the_boltdb_as_podman_does(tmp_path):
    static = tmp_path / "libpod"
    static.mkdir()
    assert podman_state.read_graph_root(str(tmp_path)) is None
    shutil.copyfile(DB, static / "bolt_state.db")
    (static / "db.sql").write_bytes(b"garbage")
    assert set(_by_name(podman_state.read_graph_root(str(tmp_path)) or [])) == set(EXPECTED)
    (static / "bolt_state.db").unlink()
    with pytest.raises(podman_state.PodmanDBError):
        podman_state.read_graph_root(str(tmp_path))  # a db.sql that is no SQLite


def test_sqlite_database_with_podmans_schema(tmp_path):
    """podman >= 4.8's SQLite backend (not on this host: Debian 12 ships 4.3): the
    tables as libpod/sqlite_state_internal.go sqliteInitSchema makes them, holding the
    JSON of the real BoltDB above."""
    path = tmp_path / "db.sql"  # in the graph root itself: podman with static_dir set
    conn = sqlite3.connect(path)
    conn.executescript("""
        CREATE TABLE ContainerConfig(ID TEXT PRIMARY KEY NOT NULL, Name TEXT UNIQUE NOT NULL,
                                     PodID TEXT, JSON TEXT NOT NULL);
        CREATE TABLE ContainerState(ID TEXT PRIMARY KEY NOT NULL, State INTEGER NOT NULL,
                                    ExitCode INTEGER, JSON TEXT NOT NULL,
                                    CHECK (ExitCode BETWEEN -1 AND 255));
        CREATE TABLE PodConfig(ID TEXT PRIMARY KEY NOT NULL, Name TEXT UNIQUE NOT NULL,
                               JSON TEXT NOT NULL);
    """)
    conn.execute("INSERT INTO PodConfig VALUES ('p1', 'web-pod', '{}')")
    for r in podman_state.read_bolt(str(DB)):
        conn.execute("INSERT INTO ContainerConfig VALUES (?, ?, ?, ?)",
                     (r.config["id"], r.config["name"],
                      "p1" if r.config["name"] == "fx-created" else None, json.dumps(r.config)))
        conn.execute("INSERT INTO ContainerState VALUES (?, ?, ?, ?)",
                     (r.config["id"], r.state["state"], r.state.get("exitCode"),
                      json.dumps(r.state)))
    conn.commit()
    conn.close()
    got = _by_name(podman_state.read_graph_root(str(tmp_path)) or [])
    assert {n: (r.state.get("exitCode"), r.pod_name) for n, r in got.items()} == {
        "fx-exit3": (3, None), "fx-killed": (137, None), "fx-created": (None, "web-pod")}

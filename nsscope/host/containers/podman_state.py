"""podman's own records of its containers: its state database, read-only.

podman keeps a container's state (created, exited, its exit code, when it ended) in
one database under its static dir, ``<graph root>/libpod`` (libpod/runtime.go:
StaticDir defaults to GraphRoot/libpod):

- ``bolt_state.db``, BoltDB (podman < 4.8's only backend; read by boltdb.py): the
  top-level bucket ``ctr`` holds a bucket per container id with the JSON ``config``
  (libpod ContainerConfig) and ``state`` (libpod ContainerState) (libpod
  boltdb_state.go: ctrBkt, configKey, stateKey; bolt_state_internal.go getContainerFromDB);
- ``db.sql``, SQLite (podman >= 4.8; the default from 5.0 when no BoltDB is there):
  tables ``ContainerConfig(ID, Name, PodID, JSON)``, ``ContainerState(ID, State,
  ExitCode, JSON)`` and ``PodConfig(ID, Name, JSON)`` holding the same JSON (libpod
  sqlite_state_internal.go sqliteInitSchema). podman uses the BoltDB if one exists
  (libpod runtime.go getDBState, database_backend unset), so does this reader.

Nothing is asked of podman. The database is read without its lock, so a read can
race a write: a file that does not hold together is read again, then passed over
(``PodmanDBError``); it never crashes ``nsscope ps``.
"""

from __future__ import annotations

import os

from nsscope.host.containers import boltdb
from nsscope.host.containers.files import basename, option, read_text
from nsscope.jsontext import loads as json_loads

TYPE_CHECKING = False
if TYPE_CHECKING:
    from nsscope.host.containers.state_paths import StatePaths
    from nsscope.host.model import Snapshot

BOLT = "bolt_state.db"
SQLITE = "db.sql"
#: a torn read (a page rewritten under us) is read again this many times
READS = 3

#: libpod/define/containerstate.go ContainerStatus (iota): Unknown 0, Configured 1,
#: Created 2, Running 3, Stopped 4, Paused 5, Exited 6, Removing 7, Stopping 8.
#: The words `podman ps` shows for them (String(): Configured is "created" too).
STATE_WORDS = {0: "unknown", 1: "created", 2: "created", 3: "running", 4: "stopped",
               5: "paused", 6: "exited", 7: "removing", 8: "stopping"}


class PodmanDBError(Exception):
    """A database that could not be read whole."""


class Record:
    """One container as podman's database has it: its config and state JSON, and the
    name of its pod (the config has the pod's id only)."""

    __slots__ = ("config", "pod_name", "state")

    def __init__(self, config: dict, state: dict, pod_name: str | None = None) -> None:
        self.config = config
        self.state = state
        self.pod_name = pod_name


def _json_object(raw: bytes | str | None) -> dict | None:
    if raw is None:
        return None
    try:
        value = json_loads(raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw)
    except (ValueError, RecursionError):
        return None
    return value if isinstance(value, dict) else None


def from_bolt_bytes(data: bytes) -> list[Record]:
    """Every container of a BoltDB image, through its newest valid meta, else the
    other (a meta written and its pages not all yet: bbolt writes pages, then meta)."""
    last: Exception = PodmanDBError("no valid meta page: not a BoltDB file")
    for meta in boltdb.metas(data):
        try:
            root = boltdb.root_bucket(data, meta)
            # pods: pod/<id>/config, its "name" (boltdb_state.go podBkt)
            pods = root.bucket(b"pod")
            pod_names = {}
            for pod_id, bucket in pods.buckets() if pods is not None else ():
                pod = _json_object(bucket.get(b"config")) or {}
                if isinstance(pod.get("name"), str):
                    pod_names[pod_id.decode("utf-8", "replace")] = pod["name"]
            ctrs = root.bucket(b"ctr")
            out = []
            for _cid, bucket in ctrs.buckets() if ctrs is not None else ():
                config = _json_object(bucket.get(b"config"))
                state = _json_object(bucket.get(b"state"))
                if config is not None and state is not None:
                    out.append(Record(config, state, pod_names.get(str(config.get("pod")))))
            return out
        except boltdb.BoltError as e:
            last = e
    raise PodmanDBError(str(last))


def read_bolt(path: str) -> list[Record]:
    """The containers in podman's BoltDB at ``path`` (OSError if it cannot be read)."""
    err = ""
    for _ in range(READS):
        try:
            return from_bolt_bytes(boltdb.read_file(path))
        except (boltdb.BoltError, PodmanDBError) as e:
            err = str(e)
    raise PodmanDBError(f"{path}: {err}")


def read_sqlite(path: str) -> list[Record]:
    """The containers in podman's SQLite database at ``path``, opened read-only (a
    reader takes SQLite's shared lock for the one query, as any podman reader does)."""
    import sqlite3
    from urllib.parse import quote
    try:
        conn = sqlite3.connect(f"file:{quote(path)}?mode=ro", uri=True, timeout=0.5)
    except sqlite3.Error as e:
        raise PodmanDBError(f"{path}: {e}") from None
    try:
        rows = conn.execute("SELECT c.JSON, s.JSON, p.Name FROM ContainerConfig c "
                            "JOIN ContainerState s ON s.ID = c.ID "
                            "LEFT JOIN PodConfig p ON p.ID = c.PodID").fetchall()
    except sqlite3.Error as e:
        raise PodmanDBError(f"{path}: {e}") from None
    finally:
        conn.close()
    out = []
    for config_json, state_json, pod_name in rows:
        config = _json_object(config_json if isinstance(config_json, (str, bytes)) else None)
        state = _json_object(state_json if isinstance(state_json, (str, bytes)) else None)
        if config is not None and state is not None:
            out.append(Record(config, state, pod_name if isinstance(pod_name, str) else None))
    return out


def read_graph_root(root: str) -> list[Record] | None:
    """The containers of the database of the graph root ``root``; None if there is
    none. PermissionError if this user may not look (podman's dirs are root's, 0700).

    Where podman puts it: the BoltDB in the static dir (``<root>/libpod``, runtime.go
    getDBState); the SQLite one there too unless static_dir was set, then in the graph
    root itself (sqlite_state.go NewSqliteState: basePath); with a transient store in
    the run root (/run/containers/storage, among the default roots)."""
    static = os.path.join(root, "libpod")
    for path, reader in ((os.path.join(static, BOLT), read_bolt),
                         (os.path.join(static, SQLITE), read_sqlite),
                         (os.path.join(root, SQLITE), read_sqlite)):
        try:
            os.stat(path)
        except (FileNotFoundError, NotADirectoryError):
            continue
        return reader(path)
    return None


def _storage_conf_graphroot(path: str) -> str | None:
    """``graphroot = "…"`` of containers-storage.conf(5)'s [storage] table (a plain
    line scan: the one key is all that is needed, and tomllib is not on every Python)."""
    text = read_text(path)
    table = ""
    for raw in (text or "").splitlines():
        line = raw.split("#", 1)[0].strip()
        if line.startswith("["):
            table = line.strip("[] ")
        elif table == "storage" and line.partition("=")[0].strip() == "graphroot":
            value = line.partition("=")[2].strip().strip("\"'")
            return value or None
    return None


def graph_roots(snap: Snapshot, paths: StatePaths) -> list[str]:
    """Where podman's graph roots are: the defaults, storage.conf's graphroot, and
    those that a running conmon names (its bundle ``-b <graphroot>/<driver>-containers/
    <id>/userdata``, and the ``--root`` of its exit command: podman
    libpod/container_internal.go createExitCommand)."""
    roots = list(paths.containers_storage)
    conf = _storage_conf_graphroot(paths.containers_storage_conf)
    if conf:
        roots.append(paths.host(conf))
    for p in snap.processes.values():
        if not p.cmdline or basename(p.cmdline[0]) != "conmon":
            continue
        bundle = option(p.cmdline, "-b", "--bundle")
        if bundle and bundle.startswith("/"):
            roots.append(paths.host(os.path.dirname(os.path.dirname(os.path.dirname(
                bundle)))))
        args = [p.cmdline[i + 1] for i, a in enumerate(p.cmdline[:-1])
                if a == "--exit-command-arg"]
        root = option(args, "--root")
        if root and root.startswith("/"):
            roots.append(paths.host(root))
    seen: list[str] = []
    for root in roots:
        r = os.path.normpath(root)
        if r not in seen:
            seen.append(r)
    return seen

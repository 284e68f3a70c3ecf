"""The recording's SQLite schema, and its version (``PRAGMA user_version``).

Documented for users in docs/recording.md (they may query a file with the
``sqlite3`` shell). What does not change from one sample to the next is not
copied again:

- *versioned* tables (process, namespace, container, cgroup, host) hold one row
  per version of a thing: it was as ``data`` says from sample ``first`` up to,
  not including, sample ``until`` (NULL: still so at the file's last sample). A
  process that runs all day is one row; one whose namespaces or cgroups move
  gets a new row from that sample on.
- ``cgroup_figures`` holds a cgroup's counters at a sample only when one of
  them changed since its previous row: the figures at sample S are the cgroup's
  latest row at or before S (an idle cgroup costs nothing).

A newer nsscope reads every version listed in ``READABLE``; a file from a
version it does not know (a newer nsscope's) is refused, never guessed at.
"""

from __future__ import annotations

#: the schema this nsscope writes (PRAGMA user_version). 0 is "not a recording":
#: an empty or foreign SQLite file
VERSION = 1
#: the versions this nsscope reads
READABLE = (1,)
#: meta.key 'format': tells a recording from any other SQLite file
FORMAT = "nsscope-recording"

#: the cgroup figures kept per sample, in column order (docs/recording.md):
#: PSI averages are in hundredths of a percent (integers are smaller on disk)
FIGURES = ("parts", "usage_usec", "user_usec", "system_usec", "nr_periods", "nr_throttled",
           "throttled_usec", "quota_usec", "period_usec", "weight", "shares",
           "psi_some_avg10", "psi_some_avg60", "psi_some_avg300", "psi_some_total",
           "psi_full_avg10", "psi_full_total", "memory_current", "memory_max",
           "pids_current", "pids_max")
#: bits of ``parts``: which of the cgroup's records were there (None vs all-unknown)
CPU, PRESSURE, MEMORY, PIDS = 1, 2, 4, 8

_VERSIONED = """
CREATE TABLE {name} (
    id INTEGER PRIMARY KEY,
    {keys},
    data TEXT NOT NULL,
    first INTEGER NOT NULL,
    until INTEGER
);
CREATE INDEX {name}_until ON {name}(until);
"""

SCHEMA = "\n".join([
    """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE sample (
    id INTEGER PRIMARY KEY,
    at REAL NOT NULL,
    uptime REAL NOT NULL,
    cpu_pressure TEXT
);
CREATE INDEX sample_at ON sample(at);
CREATE TABLE cgroup_path (id INTEGER PRIMARY KEY, path TEXT NOT NULL UNIQUE);
""",
    _VERSIONED.format(name="process", keys="pid INTEGER NOT NULL, starttime INTEGER NOT NULL, "
                      "comm TEXT NOT NULL, state TEXT NOT NULL"),
    _VERSIONED.format(name="namespace", keys="ino INTEGER NOT NULL, type TEXT NOT NULL"),
    _VERSIONED.format(name="container", keys="key TEXT NOT NULL, name TEXT NOT NULL"),
    _VERSIONED.format(name="cgroup", keys="path_id INTEGER NOT NULL"),
    _VERSIONED.format(name="host", keys="key TEXT NOT NULL"),
    "CREATE TABLE cgroup_figures (\n    cgroup INTEGER NOT NULL,\n    sample INTEGER NOT NULL,\n"
    + "".join(f"    {c} INTEGER,\n" for c in FIGURES)
    + "    PRIMARY KEY (cgroup, sample)\n) WITHOUT ROWID;\n",
])

#: the versioned tables, each with its key columns
VERSIONED = {"process": ("pid", "starttime"), "namespace": ("ino",), "container": ("key",),
             "cgroup": ("path_id",), "host": ("key",)}

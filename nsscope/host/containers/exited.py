"""Containers that are not running, from their runtime's own records (``nsscope ps -a``,
like ``docker ps -a``): docker's and podman's; nsscope run's are in nsscope_runs.py.

Only what a runtime writes to disk is read; no daemon or CLI is asked.

- docker: ``<data-root>/containers/<id>/config.v2.json``, the container as moby
  saves it (container/container.go ToDisk): ``State`` (state.go: Running, Paused,
  Restarting, Dead, RemovalInProgress, ExitCode, StartedAt, FinishedAt), ``Created``,
  ``Path`` and ``Args``, ``Config.Image``.
- podman: its database (BoltDB ``bolt_state.db``, or SQLite ``db.sql`` from 4.8)
  holds the state, and is not read here. What podman itself reads to learn how a
  container ended is on disk as plain files: conmon's exit file
  ``<tmpdir>/exits/<id>`` (the exit code; its mtime is the finish time:
  libpod/container_internal.go checkExitFile, handleExitFile), and the container's
  name and creation in containers-storage's ``containers.json``. A podman container
  whose exit file is there is listed as exited with that code; one that never ran, or
  whose exit file podman removed (on ``podman start``, ``rm``), is not.
"""

from __future__ import annotations

import os

from nsscope.host.containers.files import read_json, read_text, rfc3339
from nsscope.host.containers.recognise import shorten_id
from nsscope.host.model import Container, Snapshot

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable


def _state_word(state: dict) -> str:
    """moby container/state.go StateString, for a container that is not running."""
    if state.get("RemovalInProgress"):
        return "removing"
    if state.get("Dead"):
        return "dead"
    if rfc3339(str(state.get("StartedAt") or "")) is None:
        return "created"
    return "exited"


def docker(snap: Snapshot, roots: Iterable[str]) -> list[Container]:
    """docker's containers whose saved state says they are not running."""
    running = {c.id for c in snap.containers if c.runtime == "docker"}
    out = []
    for root in roots:
        base = os.path.join(root, "containers")
        try:
            ids = sorted(os.listdir(base))
        except OSError:
            continue
        for cid in ids:
            if cid in running:
                continue
            cfg = read_json(os.path.join(base, cid, "config.v2.json"))
            if not isinstance(cfg, dict):
                continue
            state = cfg.get("State") or {}
            if not isinstance(state, dict) or state.get("Running"):
                continue  # running as the state says, but no process: not ours to judge
            name = cfg.get("Name")
            conf = cfg.get("Config") or {}
            argv = [cfg.get("Path") or "", *(cfg.get("Args") or ())]
            code = state.get("ExitCode")
            word = _state_word(state)
            out.append(Container(
                id=cid, short_id=shorten_id(cid),
                name=name.lstrip("/") if isinstance(name, str) and name else shorten_id(cid),
                runtime="docker", pid=None, pids=(), state=word, cgroup=None,
                image=conf.get("Image") if isinstance(conf, dict) else None,
                exit_code=code if isinstance(code, int) and word == "exited" else None,
                created=rfc3339(str(cfg.get("Created") or "")),
                finished_at=rfc3339(str(state.get("FinishedAt") or "")),
                command=" ".join(str(a) for a in argv if a) or None))
            running.add(cid)
    return out


def podman(snap: Snapshot, exits: Iterable[str], storages: Iterable[str]) -> list[Container]:
    """podman's containers that conmon saw exit (their exit files), named from
    containers-storage."""
    running = {c.id for c in snap.containers if c.runtime == "podman"}
    codes: dict[str, tuple[int, float]] = {}
    for d in exits:
        try:
            names = os.listdir(d)
        except OSError:
            continue
        for cid in names:
            if cid in running or cid in codes:
                continue
            text = read_text(os.path.join(d, cid))
            try:
                codes[cid] = (int((text or "").strip()), os.stat(os.path.join(d, cid)).st_mtime)
            except (ValueError, OSError):
                continue
    if not codes:
        return []
    records: dict[str, dict] = {}
    for storage in storages:
        try:
            drivers = sorted(e for e in os.listdir(storage) if e.endswith("-containers"))
        except OSError:
            continue
        for drv in drivers:
            for rec in read_json(os.path.join(storage, drv, "containers.json")) or ():
                if isinstance(rec, dict) and rec.get("id") in codes:
                    records.setdefault(rec["id"], rec)
    out = []
    for cid, (code, finished) in sorted(codes.items()):
        rec = records.get(cid)
        if rec is None:
            continue  # removed (podman rm leaves no storage record): nothing to list
        names = rec.get("names") or [shorten_id(cid)]
        out.append(Container(
            id=cid, short_id=shorten_id(cid), name=str(names[0]), runtime="podman", pid=None,
            pids=(), state="exited", cgroup=None, exit_code=code,
            created=rfc3339(str(rec.get("created") or "")), finished_at=finished))
    return out

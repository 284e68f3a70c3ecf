"""Containers that are not running, from their runtime's own records (``nsscope ps -a``,
like ``docker ps -a``): docker's; nsscope run's are in nsscope_runs.py.

Only what a runtime writes to disk is read; no daemon or CLI is asked.

- docker: ``<data-root>/containers/<id>/config.v2.json``, the container as moby
  saves it (container/container.go ToDisk): ``State`` (state.go: Running, Paused,
  Restarting, Dead, RemovalInProgress, ExitCode, StartedAt, FinishedAt), ``Created``,
  ``Path`` and ``Args``, ``Config.Image``.
- podman is not read: the state of a container that ended (its exit code, when it
  ended) is only in podman's database, BoltDB ``bolt_state.db`` (SQLite ``db.sql``
  from podman 4.8), which nsscope does not parse. conmon's exit file
  (``<tmpdir>/exits/<id>``) holds the code only until podman has read it: podman 4.3
  (Debian 12) removes it at once (tested: tests/system/cli/test_ps.py), and its
  events log is a log, not a state, and not kept on every host (journald).
"""

from __future__ import annotations

import os

from nsscope.host.containers.files import read_json, rfc3339
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

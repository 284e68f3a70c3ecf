"""Containers that are not running, from their runtime's own records (``nsscope ps -a``,
like ``docker ps -a``): docker's and podman's; nsscope run's are in nsscope_runs.py.

Only what a runtime writes to disk is read; no daemon or CLI is asked.

- docker: ``<data-root>/containers/<id>/config.v2.json``, the container as moby
  saves it (container/container.go ToDisk): ``State`` (state.go: Running, Paused,
  Restarting, Dead, RemovalInProgress, ExitCode, StartedAt, FinishedAt), ``Created``,
  ``Path`` and ``Args``, ``Config.Image``.
- podman: its state database (podman_state.py: BoltDB ``bolt_state.db``, SQLite
  ``db.sql`` from 4.8) in each graph root's static dir: ``config`` (name,
  ``rootfsImageName``, ``spec.process.args``, ``createdTime``) and ``state``
  (``state``, ``exitCode``, ``finishedTime``). conmon's exit file
  (``<tmpdir>/exits/<id>``) is no record: podman 4.3 (Debian 12) removes it as soon
  as it has read the code (tested: tests/system/cli/test_ps.py).
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


#: podman states (podman_state.STATE_WORDS) of a container with no process: what
#: `podman ps -a` shows for them (cmd/podman/containers/ps.go psReporter.Status:
#: configured/created "Created", stopped/exited "Exited (N) … ago")
_PODMAN_NOT_RUNNING = {"created": "created", "stopped": "exited", "exited": "exited",
                       "removing": "removing"}


def _str(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def podman(snap: Snapshot, graph_roots: Iterable[str], notes: list[str]) -> list[Container]:
    """podman's containers whose state in its database says they are not running.

    A database that cannot be read whole (being written, damaged), or that this user
    may not read, is said in ``notes`` and passed over."""
    from nsscope.host.containers import podman_state
    known = {c.id for c in snap.containers}
    out = []
    denied = []
    for root in graph_roots:
        try:
            records = podman_state.read_graph_root(root)
        except podman_state.PodmanDBError as e:
            notes.append(f"podman's stopped containers in {root} are not listed: "
                         f"its database could not be read whole ({e})")
            continue
        except PermissionError:
            denied.append(root)
            continue
        except OSError:
            continue
        for rec in records or ():
            cfg, state = rec.config, rec.state
            cid = _str(cfg.get("id"))
            code = state.get("state")
            word = _PODMAN_NOT_RUNNING.get(
                podman_state.STATE_WORDS.get(code, "") if isinstance(code, int) else "")
            if cid is None or cid in known or word is None:
                continue  # running (or said so without a process: not ours to judge)
            spec = cfg.get("spec")
            process = spec.get("process") if isinstance(spec, dict) else None
            # what ran (entrypoint and command, as docker's Path and Args), else the
            # command podman recorded
            argv = process.get("args") if isinstance(process, dict) else None
            if not isinstance(argv, list):
                argv = cfg.get("command")
            if not isinstance(argv, list):
                argv = []
            exit_code = state.get("exitCode")
            out.append(Container(
                id=cid, short_id=shorten_id(cid), name=_str(cfg.get("name")) or shorten_id(cid),
                runtime="podman", pid=None, pids=(), state=word, cgroup=None,
                image=_str(cfg.get("rootfsImageName")) or _str(cfg.get("RawImageName")),
                # a pod's infra container: IsInfra, saved as "pause" (libpod
                # container_config.go ContainerMiscConfig)
                infra=cfg.get("pause") is True, pod=rec.pod_name,
                exit_code=(exit_code if isinstance(exit_code, int)
                           and not isinstance(exit_code, bool) and word == "exited" else None),
                created=rfc3339(str(cfg.get("createdTime") or "")),
                finished_at=rfc3339(str(state.get("finishedTime") or "")),
                command=" ".join(str(a) for a in argv if a) or None))
            known.add(cid)
    if denied:
        notes.append(f"podman's stopped containers are not listed: uid {os.geteuid()} may "
                     f"not read {', '.join(denied)} (run as root)")
    return out

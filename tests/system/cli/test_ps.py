"""``nsscope ps -a`` lists the containers that ended, of docker and podman, from their
own records, with their exit codes (issue 15). The runtimes themselves are the
oracles (``docker inspect``, ``podman inspect``); nsscope never asks them."""

from __future__ import annotations

import datetime
import json
import os

import pytest

from support import need_root, run_nsscope
from support.runtimes import Dockerd, Podman, busybox_rootfs, sh


def _ps(*args: str) -> dict[str, dict]:
    out = run_nsscope("ps", "-J", *args, check=True).stdout
    return {c["name"]: c for c in json.loads(out)["containers"]}


def _go_time(text: str) -> float:
    """docker inspect's time (RFC 3339, nanoseconds) -> seconds since the epoch."""
    date, frac = (text.rstrip("Z").split(".") + ["0"])[:2]
    t = datetime.datetime.fromisoformat(date).replace(tzinfo=datetime.timezone.utc)
    return t.timestamp() + float("0." + frac)


@pytest.mark.slow
def test_dockers_exited_containers_with_their_exit_codes(tmp_path):
    need_root()
    (tmp_path / "d").mkdir()
    d = Dockerd(tmp_path / "d", busybox_rootfs(tmp_path / "rootfs"))
    try:
        name = f"nsscope-test-exit-{os.getpid()}"
        d.cli("run", "--name", name, "--network", "none", d.image, "sh", "-c", "exit 3",
              check=False)
        live, _ = d.run(f"nsscope-test-live-{os.getpid()}")
        state = json.loads(d.cli("inspect", name).stdout)[0]["State"]
        assert (state["Running"], state["ExitCode"]) == (False, 3)  # the oracle
        assert name not in _ps()
        every = _ps("-a")
        e = every[name]
        assert (e["runtime"], e["state"], e["exit_code"], e["pid"]) == ("docker", "exited", 3,
                                                                        None)
        assert e["finished_at"] == pytest.approx(_go_time(state["FinishedAt"]), abs=1e-3)
        assert e["command"] == "sh -c exit 3" and e["image"] == d.image
        assert every[f"nsscope-test-live-{os.getpid()}"]["state"] == "running"
        assert every[f"nsscope-test-live-{os.getpid()}"]["id"] == live
        line = next(x for x in run_nsscope("ps", "-a", "--filter", "state=exited",
                                           "--no-trunc", check=True).stdout.splitlines()
                    if name in x)
        assert "Exited (3) " in line and " ago" in line
    finally:
        d.close()


@pytest.mark.slow
def test_podmans_exited_state_is_in_its_database_only(tmp_path):
    """What `ps -a` does not list, and why (host/containers/exited.py): once a podman
    container ended, podman (the oracle: inspect says exited, code 4) has already removed
    conmon's exit file; what is left on disk outside its BoltDB says nothing of the end.
    ps lists no made-up state for it."""
    need_root()
    pm = Podman(busybox_rootfs(tmp_path / "rootfs"), f"nsscope-test-ps-{os.getpid()}")
    try:
        name = f"nsscope-test-exit4-{os.getpid()}"
        sh(*pm.pm, "run", "--name", name, "--network", "none", pm.image, "sh", "-c",
           "exit 4", env=pm.env, check=False)
        cid = sh(*pm.pm, "inspect", "-f", "{{.Id}}", name, env=pm.env).stdout.strip()
        state = sh(*pm.pm, "inspect", "-f", "{{.State.Status}} {{.State.ExitCode}}", name,
                   env=pm.env).stdout.split()
        assert state == ["exited", "4"]
        assert not (pm.base / "tmp/exits" / cid).exists()
        assert cid not in run_nsscope("ps", "-aq", "--no-trunc", check=True).stdout
    finally:
        pm.close()

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
def test_podmans_exited_containers_from_its_database(tmp_path):
    """podman's containers that ended (exit 3; killed: 137) and one created, never
    started, listed by `ps -a` from podman's BoltDB (host/containers/podman_state.py):
    podman removed conmon's exit file already, so the database is the only record.
    podman inspect is the oracle; its graph root is its own (a temp dir), found from
    the conmon of a container left running."""
    need_root()
    parent = f"nsscope-test-ps-{os.getpid()}"
    pm = Podman(busybox_rootfs(tmp_path / "rootfs"), parent)
    try:
        tag = os.getpid()
        live, _ = pm.run(f"nsscope-test-live-{tag}")
        run = [*pm.pm, "run", "--network", "none", "--cgroup-parent", f"/{parent}"]
        exit3, killed, created = (f"nsscope-test-{w}-{tag}" for w in ("exit3", "killed",
                                                                          "created"))
        sh(*run, "--name", exit3, pm.image, "sh", "-c", "exit 3", env=pm.env, check=False)
        sh(*run, "-d", "--name", killed, pm.image, "sleep", "1000", env=pm.env)
        sh(*pm.pm, "kill", killed, env=pm.env)  # SIGKILL: 128 + 9
        sh(*pm.pm, "wait", killed, env=pm.env, check=False)
        sh(*pm.pm, "create", "--network", "none", "--cgroup-parent", f"/{parent}", "--name",
           created, pm.image, "true", env=pm.env)
        # a pod made, not started: its infra container (our image: no catatonit here)
        pod = f"nsscope-test-pod-{tag}"
        sh(*pm.pm, "pod", "create", "--name", pod, "--network", "none", "--cgroup-parent",
           f"/{parent}", "--infra-image", pm.image, "--infra-command", "sleep", env=pm.env)
        infra = json.loads(sh(*pm.pm, "pod", "inspect", pod, env=pm.env).stdout)
        infra = infra[0] if isinstance(infra, list) else infra
        oracle = {c["Name"]: c for c in json.loads(sh(
            *pm.pm, "inspect", exit3, killed, created, env=pm.env).stdout)}
        assert [(oracle[n]["State"]["Status"], oracle[n]["State"]["ExitCode"])
                for n in (exit3, killed, created)] == [("exited", 3), ("exited", 137),
                                                       ("created", 0)]
        assert not any((pm.base / "tmp/exits" / oracle[n]["Id"]).exists()
                       for n in (exit3, killed))
        running = _ps()
        assert not {exit3, killed, created} & set(running)
        every = _ps("-a")
        for name, state, code in ((exit3, "exited", 3), (killed, "exited", 137),
                                  (created, "created", None)):
            c, want = every[name], oracle[name]
            assert (c["runtime"], c["state"], c["exit_code"], c["pid"], c["id"]) == (
                "podman", state, code, None, want["Id"]), name
            assert c["image"] == want["ImageName"]
            assert c["created"] == pytest.approx(_go_time(want["Created"]), abs=1e-3)
            if code is None:
                assert (c["finished_at"], c["status"]) == (None, "Created")
            else:
                assert c["finished_at"] == pytest.approx(
                    _go_time(want["State"]["FinishedAt"]), abs=1e-3)
                assert c["status"].startswith(f"Exited ({code}) ") and c["status"].endswith(
                    " ago")
        i = next(c for c in every.values() if c["id"] == infra["InfraContainerID"])
        assert (i["runtime"], i["state"], i["infra"], i["pod"]) == ("podman", "created", True,
                                                                    pod)
        assert (every[exit3]["infra"], every[exit3]["pod"]) == (False, None)
        assert every[exit3]["command"] == "sh -c exit 3"
        assert every[killed]["command"] == "sleep 1000"
        assert (every[f"nsscope-test-live-{tag}"]["state"],
                every[f"nsscope-test-live-{tag}"]["id"]) == ("running", live)
        table = run_nsscope("ps", "-a", "--filter", "runtime=podman", "--no-trunc",
                            check=True).stdout.splitlines()
        assert "Exited (3) " in next(x for x in table if exit3 in x)
        assert "Exited (137) " in next(x for x in table if killed in x)
        assert "Created" in next(x for x in table if created in x)
    finally:
        pm.close()

"""`make screenshots`' scene: tests/fixtures/scene-v2 replayed by nsscope.tui.dev.scenario.

The capture holds two readings of every cgroup's cpu.stat (before/ and the
final tree); the replay takes each cgroup's CPU demand from them. The oracle
for the demand is those files; for the pictures, the names the capture's
runtime state gives (config.v2.json, the CRI annotations) and its processes.
"""

from __future__ import annotations

import html
import re

import pytest

from nsscope.tui.dev import scenario, screenshots

from support import FIXTURES, V2_FIXTURE

SCENE = FIXTURES / "scene-v2"


@pytest.fixture(scope="module")
def snap():
    return scenario.base(SCENE)


def _by_name(snap):
    return {c.name: c for c in snap.containers}


def _stat(path) -> dict[str, int]:
    return {k: int(v) for k, v in (line.split() for line in path.read_text().splitlines())}


def test_demand_is_measured_from_the_two_readings(snap):
    demand = scenario.measured_demand(SCENE, snap)
    t0 = float((SCENE / "before/proc/uptime").read_text().split()[0])
    t1 = float((SCENE / "proc/uptime").read_text().split()[0])
    batch = _by_name(snap)["batch"].cgroup
    old = _stat(SCENE / f"before/sys/fs/cgroup{batch}/cpu.stat")
    new = _stat(SCENE / f"sys/fs/cgroup{batch}/cpu.stat")
    # a leaf with its own quota: what it used plus what its quota refused it
    want = ((new["usage_usec"] - old["usage_usec"])
            + (new["throttled_usec"] - old["throttled_usec"])) / 1e6 / (t1 - t0)
    assert demand[batch] == pytest.approx(want)
    # `stress --cpu 1` wants a whole CPU; nginx and postgres sit idle
    assert 0.85 < demand[batch] < 1.1
    for name in ("web", "db"):
        assert demand[_by_name(snap)[name].cgroup] < 0.05


def test_a_capture_without_two_readings_keeps_the_demand_table():
    assert scenario.measured_demand(V2_FIXTURE, scenario.base(V2_FIXTURE)) is None


def test_the_replay_throttles_batch_at_throttle_at(snap):
    frames = scenario.frames(SCENE, 60, throttle_at=30)
    batch = _by_name(snap)["batch"].cgroup

    def rate(a: int, b: int) -> float:
        ua, ub = (frames[i].cgroups[batch].cpu.usage_usec for i in (a, b))
        return (ub - ua) / 1e6 / (b - a)

    assert 0.85 < rate(10, 29) < 1.1          # unlimited: its whole demand
    assert rate(40, 60) == pytest.approx(0.2, abs=0.01)  # then its 20 % quota
    assert frames[-1].cgroups[batch].cpu.quota_usec == 20000


def test_uids_come_from_the_status_files(snap):
    """A checkout keeps no owners: base() reads each process's uid from its status."""
    uids = {p.cmdline[0]: p.uid for p in snap.processes.values() if p.cmdline}
    assert (uids["nginx: worker process"], uids["postgres"], uids["python"], uids["/pause"]) == (
        33, 100, 10001, 65535)


def _text(svg: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", svg)).replace("\xa0", " ")


async def test_the_screenshots_show_the_scene_by_name(tmp_path):
    written = {p.stem: _text(p.read_text()) for p in await screenshots.shoot(SCENE, tmp_path)}
    assert set(written) == {"containers", "namespaces", "cgroups", "throttle"}
    containers = written["containers"]
    for name in ("docker", "batch", "db", "web", "containerd", "api", "POD", "bwrap"):
        assert name in containers
    # the throttled container is the one shown, with its 20 % limit
    assert "docker container batch" in containers and "cpu 20%" in containers
    # the pod's shared network namespace: its sandbox and its app
    assert "/pause" in written["namespaces"] and "python app.py" in written["namespaces"]
    assert "stress --cpu 1" in written["cgroups"]
    for text in written.values():
        assert "/var/tmp" not in text and "capture" not in text

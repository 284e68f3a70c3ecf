"""``nsscope ps`` shaped as people shape ``docker ps`` and ``lsns`` (issue 15), on the
captured host scene (tests/fixtures/scene-v2: docker web/db/batch, a Kubernetes pod, a
bwrap sandbox) and the k8s fixture. Oracles: the fixture's own files (docker's
config.v2.json, /proc/PID/cmdline, /proc/stat btime and /proc/PID/stat starttime),
``ps --json`` for the table forms, and docker's go-units for the wording."""

from __future__ import annotations

import datetime
import json
import os
import shutil

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from nsscope.cli import ps
from nsscope.host.containers.files import rfc3339

from support import FIXTURES, run_nsscope

SCENE = FIXTURES / "scene-v2"
ROOTS = ("--proc", str(SCENE / "proc"), "--cgroup-root", str(SCENE / "sys/fs/cgroup"))
STATE = ("--state-root", str(SCENE))


def _ps(*more: str, check: bool = True):
    return run_nsscope(*ROOTS, "ps", *STATE, *more, check=check)


def _json(*more: str) -> list[dict]:
    return json.loads(_ps("--json", *more).stdout)["containers"]


def test_short_json_option_is_the_long_one():
    assert _ps("-J").stdout == _ps("--json").stdout


def test_command_created_status_from_the_hosts_own_files():
    with open(SCENE / "proc/stat") as f:
        btime = next(int(line.split()[1]) for line in f if line.startswith("btime "))
    ticks = os.sysconf("SC_CLK_TCK")
    for c in _json():
        pid = c["pid"]
        argv = (SCENE / f"proc/{pid}/cmdline").read_bytes().rstrip(b"\0").split(b"\0")
        assert c["command"] == " ".join(a.decode() for a in argv)
        stat = (SCENE / f"proc/{pid}/stat").read_text()
        start = int(stat[stat.rindex(")") + 2:].split()[19])
        assert c["started_at"] == pytest.approx(btime + start / ticks)
        assert c["status"].startswith("Up ")
        if c["runtime"] == "docker":
            cfg = json.loads((SCENE / f"var/lib/docker/containers/{c['id']}/config.v2.json")
                             .read_text())
            created = datetime.datetime.fromisoformat(cfg["Created"][:26] + "+00:00")
            assert c["created"] == pytest.approx(created.timestamp(), abs=1e-5)
        else:
            assert c["created"] == c["started_at"]
    header = _ps().stdout.splitlines()[0].split()
    assert header == ["ID", "NAME", "RUNTIME", "POD", "NAMESPACE", "IMAGE", "COMMAND",
                      "CREATED", "STATUS", "PID", "CPUS"]


def test_lines_fit_120_columns_and_no_trunc_keeps_everything():
    for out in (_ps().stdout, _ps("-a").stdout,
                run_nsscope("--proc", str(FIXTURES / "k8s-systemd/proc"), "--cgroup-root",
                            str(FIXTURES / "k8s-systemd/sys/fs/cgroup"), "ps", "-a",
                            "--state-root", str(FIXTURES / "k8s-systemd"), "-o", "+CGROUP",
                            check=True).stdout):
        assert max(len(line) for line in out.splitlines()) <= ps.WIDTH, out
    full = _ps("--no-trunc").stdout
    for c in _json():
        assert c["id"] in full and c["command"] in full
    assert "…" in _ps().stdout and "…" not in full


def test_quiet_lists_the_ids_only():
    cs = _json()
    assert _ps("-q").stdout.split() == [c["short_id"] for c in cs]
    assert _ps("-q", "--no-trunc").stdout.split() == [c["id"] for c in cs]
    assert _ps("-aq").stdout.split() == [c["short_id"] for c in _json("-a")]


def test_output_columns_like_lsns():
    assert _ps("-o", "ID,NAME").stdout.splitlines()[0].split() == ["ID", "NAME"]
    plus = _ps("-o", "+CGROUP,HOSTNS", "--no-trunc").stdout.splitlines()[0].split()
    assert plus[-2:] == ["CGROUP", "HOSTNS"] and plus[:3] == ["ID", "NAME", "RUNTIME"]
    rows = [line.split() for line in _ps("-o", "name,pid").stdout.splitlines()[1:]]
    assert rows == [[c["name"], str(c["pid"])] for c in _json()]
    bad = _ps("-o", "ID,NOPE", check=False)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "NOPE" in bad.stderr


@pytest.mark.parametrize("filters, want", [
    (["runtime=docker"], {"web", "db", "batch"}),
    (["name=ba"], {"batch"}),
    (["runtime=docker", "runtime=bwrap"], {"web", "db", "batch", "bwrap-412"}),
    (["runtime=docker,name=ba"], {"batch"}),
    (["runtime=docker,name=ba", "name=db"], {"batch", "db"}),
    (["runtime=bwrap", "name=ba"], set()),
    (["state=running", "namespace=shop"], {"api"}),
    (["pod=api-6d8f9c7b5-x2kq9"], {"api"}),
    (["state=exited"], set()),
    (["id=8ec6"], {"web"}),
])
def test_filter_like_docker(filters, want):
    args = [w for f in filters for w in ("--filter", f)]
    assert {c["name"] for c in _json(*args)} == want
    assert {c["name"] for c in _json(*[w.replace("--filter", "-f") for w in args])} == want


@pytest.mark.parametrize("bad", ["runtime", "color=red", "name="])
def test_bad_filter_is_one_line(bad):
    r = _ps("--filter", bad, check=False)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "--filter" in r.stderr
    assert r.stdout == ""


def test_sort_by_a_column():
    assert [c["name"] for c in _json("--sort", "NAME")] == sorted(c["name"] for c in _json())
    assert [c["pid"] for c in _json("--sort", "pid")] == sorted(c["pid"] for c in _json())
    created = [c["created"] for c in _json("--sort", "CREATED")]
    assert created == sorted(created, reverse=True)
    r = _ps("--sort", "NOPE", check=False)
    assert r.returncode == 2 and r.stderr.count("\n") == 1


def test_all_lists_dockers_exited_containers_from_config_v2(tmp_path):
    """docker's saved state (a copy of the scene's batch, marked exited as moby writes it:
    Running false, ExitCode 137, FinishedAt) is listed with -a only, with its code."""
    root = tmp_path / "scene"
    shutil.copytree(SCENE / "var/lib/docker", root / "var/lib/docker", symlinks=True)
    batch = "39e06029a41193f9d48fcd526b87b2b03036aa1df12d5f9f03ed5311eca2d7b9"
    gone = "ab" * 32
    d = root / "var/lib/docker/containers"
    shutil.copytree(d / batch, d / gone)
    cfg = json.loads((d / gone / "config.v2.json").read_text())
    cfg.update(ID=gone, Name="/old-batch")
    cfg["State"].update(Running=False, Pid=0, ExitCode=137,
                        FinishedAt="2026-12-03T14:10:00.5Z")
    (d / gone / "config.v2.json").write_text(json.dumps(cfg))
    never = "cd" * 32
    shutil.copytree(d / batch, d / never)
    cfg.update(ID=never, Name="/never")
    cfg["State"].update(StartedAt="0001-01-01T00:00:00Z", FinishedAt="0001-01-01T00:00:00Z",
                        ExitCode=0)
    (d / never / "config.v2.json").write_text(json.dumps(cfg))
    args = (*ROOTS, "ps", "--state-root", str(root))
    names = {c["name"] for c in json.loads(run_nsscope(*args, "-J", check=True).stdout)
             ["containers"]}
    assert "old-batch" not in names and "never" not in names
    every = {c["name"]: c for c in json.loads(run_nsscope(*args, "-J", "-a", check=True)
                                              .stdout)["containers"]}
    old = every["old-batch"]
    assert (old["state"], old["exit_code"], old["pid"], old["id"]) == ("exited", 137, None, gone)
    assert old["finished_at"] == pytest.approx(
        datetime.datetime(2026, 12, 3, 14, 10, 0, 500000, tzinfo=datetime.timezone.utc)
        .timestamp())
    assert old["status"].startswith("Exited (137) ") and old["status"].endswith(" ago")
    assert old["command"] == "stress --cpu 1" and old["image"] == "stress:1.0.4"
    assert (every["never"]["state"], every["never"]["status"]) == ("created", "Created")
    assert every["batch"]["state"] == "running"  # the running one once, as before
    exited = json.loads(run_nsscope(*args, "-J", "-a", "--filter", "state=exited",
                                    check=True).stdout)["containers"]
    assert [c["name"] for c in exited] == ["old-batch"]
    line = next(x for x in run_nsscope(*args, "-a", check=True).stdout.splitlines()
                if "old-batch" in x)
    assert "Exited (137)" in line


def test_all_lists_podmans_stopped_containers_from_its_database(tmp_path):
    """podman's BoltDB (a real one: tests/fixtures/podman) in the graph root's static
    dir: its exited and created containers are listed with -a only, as podman listed
    them (expected.json), with their codes."""
    root = tmp_path / "scene"
    shutil.copytree(SCENE / "var/lib/docker", root / "var/lib/docker", symlinks=True)
    static = root / "var/lib/containers/storage/libpod"
    static.mkdir(parents=True)
    shutil.copyfile(FIXTURES / "podman/bolt_state.db", static / "bolt_state.db")
    want = {c["Names"][0]: c for c in json.loads(
        (FIXTURES / "podman/expected.json").read_text())}
    args = (*ROOTS, "ps", "--state-root", str(root))
    assert not set(want) & {c["name"] for c in json.loads(
        run_nsscope(*args, "-J", check=True).stdout)["containers"]}
    every = {c["name"]: c for c in json.loads(run_nsscope(*args, "-J", "-a", check=True)
                                              .stdout)["containers"]}
    for name, w in want.items():
        c = every[name]
        assert (c["runtime"], c["id"], c["pid"], c["image"], c["command"]) == (
            "podman", w["Id"], None, w["Image"], " ".join(w["Command"]))
        assert int(c["created"]) == w["Created"]
        if w["Exited"]:
            assert (c["state"], c["exit_code"], int(c["finished_at"])) == (
                "exited", w["ExitCode"], w["ExitedAt"])
            assert c["status"].startswith(f"Exited ({w['ExitCode']}) ")
        else:
            assert (c["state"], c["exit_code"], c["status"]) == ("created", None, "Created")
    assert every["batch"]["state"] == "running"  # the scene's own, as before
    lines = run_nsscope(*args, "-a", "--filter", "runtime=podman", check=True
                        ).stdout.splitlines()
    assert "Exited (137) " in next(x for x in lines if "fx-killed" in x)


def test_a_damaged_podman_database_is_a_note_not_a_traceback(tmp_path):
    root = tmp_path / "scene"
    static = root / "var/lib/containers/storage/libpod"
    static.mkdir(parents=True)
    (static / "bolt_state.db").write_bytes(
        (FIXTURES / "podman/bolt_state.db").read_bytes()[:3 * 4096])
    r = run_nsscope(*ROOTS, "ps", "-a", "--state-root", str(root), check=False)
    assert r.returncode == 0 and "Traceback" not in r.stderr
    assert "podman's stopped containers in " in r.stderr and "read whole" in r.stderr
    assert r.stderr.count("\n") == 1


@pytest.mark.parametrize("seconds, words", [
    # go-units duration.go HumanDuration, as docker ps prints it
    (0.5, "Less than a second"), (1, "1 second"), (59, "59 seconds"), (60, "About a minute"),
    (119, "About a minute"), (120, "2 minutes"), (3599, "59 minutes"), (3600, "About an hour"),
    (5399, "About an hour"), (5400, "2 hours"), (47 * 3600, "47 hours"),
    (48 * 3600, "2 days"), (13 * 86400, "13 days"), (14 * 86400, "2 weeks"),
    (59 * 86400, "8 weeks"), (60 * 86400, "2 months"), (729 * 86400, "24 months"),
    (730 * 86400, "2 years"),
])
def test_durations_in_dockers_words(seconds, words):
    assert ps.human_duration(seconds) == words


_TIMES = st.datetimes(min_value=datetime.datetime(1970, 1, 2),
                      max_value=datetime.datetime(2400, 1, 1))


@given(_TIMES, st.integers(-14 * 60, 14 * 60), st.integers(0, 999_999_999))
@example(datetime.datetime(2000, 2, 29, 23, 59, 59), 0, 0)
@example(datetime.datetime(2100, 3, 1), -330, 1)
def test_rfc3339_as_go_writes_it(when, offset_min, nanos):
    tz = datetime.timezone(datetime.timedelta(minutes=offset_min))
    t = when.replace(microsecond=0, tzinfo=tz)
    stamp = t.strftime("%Y-%m-%dT%H:%M:%S") + f".{nanos:09d}".rstrip("0").rstrip(".")
    if offset_min == 0:
        stamp += "Z"
    else:
        sign = "+" if offset_min > 0 else "-"
        stamp += f"{sign}{abs(offset_min) // 60:02d}:{abs(offset_min) % 60:02d}"
    assert rfc3339(stamp) == pytest.approx(t.timestamp() + nanos / 1e9, abs=1e-6)

"""Targets on a host with real runtimes whose names and id prefixes collide (issue 13,
point 2): runc, crun, docker, podman and nsscope containers named walk-*, a runc id
that starts with a live pid's digits and one that is all digits, a sandbox.

The oracles: each runtime's own tool (runc state, docker/podman inspect), /proc,
and the cgroup files (nothing changes when a target is refused). The quick index
and the snapshot must give the same answer to every text.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import pytest

from nsscope.errors import NsscopeError
from nsscope.host import targets
from nsscope.host.containers.state_paths import StatePaths

from support import need_root, need_tool, run_nsscope
from support.runtimes import CgroupGuard, Dockerd, Oci, Podman, busybox_rootfs, sh
from support.scenario import wait_for

PARENT = "nsscope-test-targets"


@pytest.fixture(scope="module")
def walk(tmp_path_factory):
    """The issue's host, made of real runtimes."""
    need_root()
    need_tool("unshare")
    base = tmp_path_factory.mktemp("nsscope-test-targets")
    rootfs = busybox_rootfs(base / "rootfs")
    guard = CgroupGuard(PARENT, f"{PARENT}-pm")
    made: list = []
    sandbox = subprocess.Popen(["unshare", "--fork", "--kill-child", "--pid", "--mount-proc",
                                "--uts", "sleep", "1000"])
    nsscope_name = "walk-ns"
    lab: dict = {"pids": {}, "ids": {}}
    try:
        def sleeper() -> int | None:
            kids = Path(f"/proc/{sandbox.pid}/task/{sandbox.pid}/children").read_text().split()
            return int(kids[0]) if kids else None
        spid = wait_for(sleeper, 10, "the sandbox")
        lab["sandbox"] = spid
        runc = Oci(base / "runc", rootfs, PARENT)
        (base / "runc").mkdir()
        made.append(runc)
        for cid in ("walk-runc", "88888888", f"{spid}x"):
            lab["pids"][cid] = runc.run(cid)
            lab["ids"][cid] = cid
        crun = Oci(base / "crun", rootfs, PARENT, runtime="crun")
        (base / "crun").mkdir()
        made.append(crun)
        lab["pids"]["walk-crun"] = crun.run("walk-crun")
        lab["ids"]["walk-crun"] = "walk-crun"
        (base / "docker").mkdir()
        docker = Dockerd(base / "docker", rootfs)
        made.append(docker)
        for name in ("walk-a", "walk-b", f"{spid}-web"):
            lab["ids"][name], lab["pids"][name] = docker.run(name)
        podman = Podman(rootfs, f"{PARENT}-pm")
        made.append(podman)
        lab["ids"]["walk-pm"], lab["pids"]["walk-pm"] = podman.run("walk-pm")
        r = run_nsscope("run", "-d", "--name", nsscope_name, "--busybox", "--", "sleep", "1000")
        assert r.returncode == 0, r.stderr
        lab["ids"][nsscope_name] = r.stdout.strip()
        made.append(nsscope_name)
        state = json.loads(Path(f"/run/nsscope/containers/{r.stdout.strip()}/state.json")
                           .read_text())
        lab["pids"][nsscope_name] = state["pid"]
        lab["docker"] = docker
        yield lab
    finally:
        for m in reversed(made):
            if isinstance(m, str):
                run_nsscope("rm", "-f", m)
            else:
                m.close()
        sandbox.kill()
        sandbox.wait()
        guard.cleanup()


def limit_files(lab: dict) -> dict[str, str]:
    """The cpu limit files of every cgroup our containers are in (and of /nsscope/throttle-*
    cgroups a throttle would make): what must not change."""
    out = {}
    for pid in (*lab["pids"].values(), lab["sandbox"]):
        for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines():
            _, keys, path = line.split(":", 2)
            top = "/sys/fs/cgroup/cpu" if "cpu" in keys.split(",") else \
                "/sys/fs/cgroup" if not keys else None
            if top is None:
                continue
            for f in ("cpu.cfs_quota_us", "cpu.max"):
                if os.path.exists(f"{top}{path}/{f}"):
                    out[f"{top}{path}/{f}"] = Path(f"{top}{path}/{f}").read_text()
    for pid in (*lab["pids"].values(), lab["sandbox"]):
        out[f"throttle-{pid}"] = str(os.path.isdir(f"/sys/fs/cgroup/cpu/nsscope/throttle-{pid}"))
    return out


def one_line(r: subprocess.CompletedProcess, code: int) -> str:
    assert r.returncode == code, (r.returncode, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in r.stderr, r.stderr
    return lines[0]


def test_walk_is_refused_listing_every_candidate(walk):
    """`throttle walk 20%` throttled runc's walk-runc (its id starts with walk) while
    others are *named* walk-*: now it refuses, lists them all, changes nothing."""
    before = limit_files(walk)
    for args in (("throttle", "walk", "20%"), ("enter", "walk", "--", "true"),
                 ("show", "walk")):
        code = 125 if args[0] == "enter" else 2
        msg = one_line(run_nsscope(*args), code)
        assert "'walk' is no container's whole name or id" in msg
        assert "start of the id of crun walk-crun, runc walk-runc" in msg
        for name in ("walk-a", "walk-b", "walk-pm"):
            assert f"{name} (" in msg and walk["ids"][name][:12] in msg
        assert "walk-ns (nsscope" in msg
        assert "name:NAME" in msg and "id:ID" in msg
    assert limit_files(walk) == before
    # the whole name is fine, and names exactly one
    r = run_nsscope("show", "walk-a", "--json", check=True)
    assert json.loads(r.stdout)["pid"] == walk["pids"]["walk-a"]


def test_a_live_pid_that_starts_an_id_or_name_is_refused(walk):
    spid = walk["sandbox"]
    msg = one_line(run_nsscope("enter", str(spid), "--", "true"), 125)
    assert f"{spid} is ambiguous: it is pid {spid} (sleep)" in msg
    assert f"runc {spid}x" in msg and f"{spid}-web (docker" in msg
    assert f"say pid:{spid}" in msg
    msg = one_line(run_nsscope("throttle", str(spid), "20%"), 2)
    assert "ambiguous" in msg
    # said which: the process, or the container
    r = run_nsscope("enter", f"pid:{spid}", "--", "readlink", "/proc/self/ns/pid", check=True)
    assert r.stdout.strip() == os.readlink(f"/proc/{spid}/ns/pid")
    r = run_nsscope("show", f"name:{spid}-web", "--json", check=True)
    assert json.loads(r.stdout)["pid"] == walk["pids"][f"{spid}-web"]
    # an all-digit id that is no live pid (above pid_max) is the container's
    r = run_nsscope("enter", "88888888", "--", "hostname", check=True)
    assert r.stdout.strip() == "runc"


def test_explicit_forms(walk):
    pids = walk["pids"]

    def pid_of(text: str) -> int:
        return json.loads(run_nsscope("show", text, "--json", check=True).stdout)["pid"]
    assert pid_of("id:walk-r") == pids["walk-runc"]  # id: ignores names
    assert pid_of(f"id:{walk['ids']['walk-pm'][:12]}") == pids["walk-pm"]
    assert pid_of("name:walk-b") == pids["walk-b"]
    assert pid_of(f"pid:{pids['walk-a']}") == pids["walk-a"]
    net = os.stat(f"/proc/{pids['walk-b']}/ns/net").st_ino
    assert pid_of(f"ns:{net}") == pids["walk-b"]
    msg = one_line(run_nsscope("show", "id:walk"), 2)
    assert "start of the ids of 2 containers" in msg
    msg = one_line(run_nsscope("show", "name:walk"), 1)
    assert "no container is named 'walk'" in msg
    start = int(Path(f"/proc/{pids['walk-a']}/stat").read_text().rsplit(")", 1)[1].split()[19])
    assert pid_of(f"pid:{pids['walk-a']}@{start}") == pids["walk-a"]
    msg = one_line(run_nsscope("show", f"pid:{pids['walk-a']}@{start + 1}"), 1)
    assert "now names another process" in msg


def ps_rows() -> list[dict[str, str]]:
    lines = run_nsscope("ps", "-o", "ID,NAME,RUNTIME,PID,STATE", check=True).stdout.splitlines()
    head = lines[0].split()
    return [dict(zip(head, line.split(), strict=False)) for line in lines[1:]]


def test_every_id_ps_prints_is_accepted_back(walk):
    """As printed — a short id, a runc id, a sandbox's namespace inode — by show,
    enter and throttle (throttle --watch --count 1 resolves and changes nothing)."""
    mine = set(walk["pids"].values()) | {walk["sandbox"]}
    rows = [r for r in ps_rows() if int(r["PID"]) in mine]
    assert {r["RUNTIME"] for r in rows} >= {"runc", "crun", "docker", "podman", "nsscope",
                                              "unshare"}
    before = limit_files(walk)
    for r in rows:
        data = json.loads(run_nsscope("show", r["ID"], "--json", check=True).stdout)
        assert data["pid"] == int(r["PID"]), r
        out = run_nsscope("enter", r["ID"], "--", "readlink", "/proc/self/ns/mnt", check=True)
        assert out.stdout.strip() == os.readlink(f"/proc/{r['PID']}/ns/mnt")
        w = run_nsscope("throttle", r["ID"], "--watch", "--count", "1", "--interval", "0.1")
        assert w.returncode == 0, (r, w.stderr)
    sandbox = next(r for r in rows if r["RUNTIME"] == "unshare")
    assert sandbox["ID"].isdigit() and int(sandbox["ID"]) > 4_194_304  # an inode
    assert json.loads(run_nsscope("show", f"ns:{sandbox['ID']}", "--json",
                                  check=True).stdout)["pid"] == walk["sandbox"]
    assert limit_files(walk) == before


def _answer(text: str, state: StatePaths | None) -> object:
    try:
        t = targets.resolve(text, state=state)
        return (t.pid, t.starttime, t.container, t.container_id, t.cgroup, t.runtime)
    except NsscopeError as e:
        return (type(e).__name__, str(e))


def test_the_quick_index_and_the_snapshot_agree(walk):
    """Every text — names, ids, short ids, prefixes, digits, nonsense — gets the same
    answer from the quick index as from a full snapshot (the index falls back when it
    is unsure: that is allowed, a different answer is not)."""
    texts = {"walk", "walk-", "walk-r", "wal", "w", "zz", "88888888", "8888", "nsscope",
             str(walk["sandbox"]), f"{walk['sandbox']}x", f"{walk['sandbox']}-web"}
    for name, cid in walk["ids"].items():
        texts |= {name, cid, cid[:12], cid[:3], name[:6]}
    for text in sorted(texts):
        assert _answer(text, None) == _answer(text, StatePaths()), text
    # and the index answers names by itself: no snapshot for the common case
    from nsscope.host.candidates import candidates
    for name in ("walk-runc", "walk-crun", "walk-a", "walk-pm", "walk-ns", "88888888"):
        found = candidates(name)
        assert found.source == "quick", name
        assert [c.name for c in found.containers if c.name == name] == [name]
    t0 = time.monotonic()
    assert targets.resolve("walk-a").pid == walk["pids"]["walk-a"]
    assert time.monotonic() - t0 < 60  # (a sanity bound; speed is bench/bench_enter.py's)


def test_docker_oracle_agrees(walk):
    """The pid each name resolves to is the one docker itself reports."""
    d = walk["docker"]
    for name in ("walk-a", "walk-b"):
        pid = int(d.cli("inspect", "-f", "{{.State.Pid}}", name).stdout)
        assert targets.resolve(name).pid == pid
        assert targets.resolve(f"name:{name}").container_id == \
            d.cli("inspect", "-f", "{{.Id}}", name).stdout.strip()
    assert sh("runc", "state", "walk-runc").returncode == 0


NOBODY = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all"]


def as_nobody(*args: str) -> subprocess.CompletedProcess:
    need_tool("setpriv")
    from support.nobody import nobody_nsscope
    return subprocess.run([*NOBODY, *nobody_nsscope(), *args], capture_output=True, text=True,
                          timeout=120, check=False, cwd="/")


def test_non_root_is_told_what_it_could_not_read(walk):
    """A container whose name uid 65534 cannot read is never said not to exist; ps says
    why names show as ids and lists nsscope's containers (-a does not fail); throttle
    says it needs root (issue 12 item 13, issue 13 point 4)."""
    data_root = str(Path(walk["docker"].base) / "data")
    for args, code in ((("show", "walk-a"), 1), (("enter", "walk-ns", "--", "true"), 125),
                       (("throttle", "walk-runc", "20%"), 1)):
        msg = one_line(as_nobody(*args), code)
        assert "no such container" not in msg
        assert f"cannot tell whether '{args[1]}' names a container" in msg
        assert data_root in msg and "/run/nsscope/containers" in msg and "run as root" in msg
    # the container is there by its id: ps lists it, and says why there is no name
    for flags in ((), ("-a",)):
        r = as_nobody("ps", *flags)
        assert r.returncode == 0, r.stderr
        assert walk["ids"]["walk-a"][:12] in r.stdout
        assert walk["ids"]["walk-ns"][:12] in r.stdout  # nsscope's own, not dropped
        assert "docker" in r.stderr and data_root in r.stderr and "show by id" in r.stderr
    assert "stopped nsscope containers are not listed" in as_nobody("ps", "-a").stderr
    # a process it can name: throttle says it needs root, not a lock file's EACCES
    msg = one_line(as_nobody("throttle", f"pid:{walk['pids']['walk-a']}", "20%"), 1)
    assert msg.startswith("nsscope: nsscope throttle needs root")

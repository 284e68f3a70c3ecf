"""``nsscope tree`` names the containers (issue 15): the cgroup tree says whose cgroup
each is, a namespace node who lives in it. The captured host scene (tests/fixtures/
scene-v2: docker, a Kubernetes pod, a bwrap sandbox) is the input; `nsscope ps --json`
on the same tree and the fixture's own /proc/PID/ns links are the oracles."""

from __future__ import annotations

import json
import os
import pathlib

from support import run_nsscope

SCENE = pathlib.Path(__file__).resolve().parents[2] / "fixtures" / "scene-v2"
ROOTS = ("--proc", str(SCENE / "proc"), "--cgroup-root", str(SCENE / "sys/fs/cgroup"))
STATE = ("--state-root", str(SCENE))


def _ps() -> list[dict]:
    return json.loads(run_nsscope(*ROOTS, "ps", "--json", "-a", *STATE,
                                  check=True).stdout)["containers"]


def _walk(nodes, key="children"):
    for n in nodes:
        yield n
        yield from _walk(n.get(key, []), key)


def test_cgroup_tree_names_each_containers_cgroup():
    want = {c["cgroup"]: c for c in _ps() if not c["sandbox"]}
    data = json.loads(run_nsscope(*ROOTS, "tree", "--cgroups", "-J", *STATE,
                                  check=True).stdout)
    got = {n["path"]: n["container"] for n in _walk(data["cgroups"])}
    for path, ref in got.items():
        if path not in want:
            assert ref is None, path
            continue
        c = want[path]
        assert (ref["name"], ref["id"], ref["runtime"]) == (c["name"], c["id"], c["runtime"])
    assert set(want) <= set(got)
    text = run_nsscope(*ROOTS, "tree", "--cgroups", *STATE, check=True).stdout
    line = next(x for x in text.splitlines() if "docker-39e06029a411" in x)
    assert "batch (docker 39e06029a411)" in line
    line = next(x for x in text.splitlines() if "cri-containerd-77dd7b9afb87" in x)
    assert "shop/api-6d8f9c7b5-x2kq9/api (containerd 77dd7b9afb87)" in line


def _ino(pid: int, kind: str) -> int:
    link = os.readlink(SCENE / "proc" / str(pid) / "ns" / kind)
    return int(link[link.index("[") + 1:-1])


def test_namespace_nodes_say_which_containers_live_there():
    ps = _ps()
    data = json.loads(run_nsscope(*ROOTS, "tree", "-J", *STATE, check=True).stdout)
    nodes = list(_walk(data["users"])) + list(data.get("unowned", []))
    nodes += [n for u in _walk(data["users"]) for n in u["namespaces"]]
    by_ino = {(n["type"], n["ns"]): n for n in nodes}
    for c in ps:
        if c["pid"] is None:
            continue
        for kind in ("cgroup", "ipc", "mnt", "net", "pid", "uts"):
            node = by_ino[(kind, _ino(c["pid"], kind))]
            assert {"name": c["name"], "id": c["id"], "runtime": c["runtime"]}.items() <= \
                next(r for r in node["containers"] if r["id"] == c["id"]).items()
    text = run_nsscope(*ROOTS, "tree", *STATE, check=True).stdout
    web_net = _ino(next(c["pid"] for c in ps if c["name"] == "web"), "net")
    line = next(x for x in text.splitlines() if f"net {web_net} " in x)
    assert line.endswith("← web (docker 8ec6eb6a0932)")
    host = next(x for x in text.splitlines() if x.startswith("├─ net ") and "host" in x)
    assert "←" not in host  # the host's namespaces hold everyone: not listed

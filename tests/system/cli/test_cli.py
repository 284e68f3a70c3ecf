"""The CLI as a user meets it: bad input, non-root, a host that changes under it."""

from __future__ import annotations

import json
import os
import random
import subprocess
import threading
import time

import pytest

from nsscope.host.collector import collect
from nsscope.host.processes import parse_stat

from support import need_root, need_tool, run_nsscope
from support.nobody import nobody_nsscope


def test_show_marks_host_namespaces():
    need_root()
    need_tool("unshare")
    p = subprocess.Popen(["unshare", "--uts", "--net", "sleep", "1000"])
    try:
        for _ in range(200):
            if os.readlink(f"/proc/{p.pid}/exe").endswith("sleep"):
                break
            time.sleep(0.01)
        data = json.loads(run_nsscope("show", str(p.pid), "--json", check=True).stdout)
        host = {n["type"]: n["host"] for n in data["namespaces"] if "_for_" not in n["link"]}
        assert host["uts"] is False and host["net"] is False
        assert host["mnt"] is True and host["user"] is True
    finally:
        p.kill()
        p.wait()


def _as_nobody(*args: str) -> subprocess.CompletedProcess:
    need_root()
    setpriv = need_tool("setpriv")
    return subprocess.run([setpriv, "--reuid=65534", "--regid=65534", "--clear-groups",
                           "--inh-caps=-all", *nobody_nsscope(), *args], cwd="/",
                          capture_output=True, text=True, timeout=120, check=False)


@pytest.mark.parametrize("args", [
    ("ls",), ("ls", "--json"), ("tree",), ("tree", "--cgroups"), ("show", "1"),
    ("show", str(os.getpid())), ("ls", "-p", "1"),
])
def test_non_root_has_no_traceback(args):
    out = _as_nobody(*args)
    assert "Traceback" not in out.stderr, out.stderr
    if args[0] in ("ls", "tree") and "-p" not in args:
        assert out.returncode == 0, out.stderr
    else:
        assert out.returncode == 0 or len(out.stderr.strip().splitlines()) == 1


def test_non_root_marks_hidden_processes():
    out = _as_nobody("ls", "--json")
    data = json.loads(out.stdout)
    # root's processes are not nobody's to inspect (ptrace access mode check)
    assert os.getpid() in data["not_visible"]
    assert data["namespaces"], "the namespaces nobody can see are still listed"


def test_snapshots_under_churn_never_fail():
    """Processes (some in namespaces of their own) come and go while we collect."""
    need_root()
    need_tool("unshare")
    stop = threading.Event()

    def churn():
        procs: list[subprocess.Popen] = []
        while not stop.is_set():
            argv = random.choice([["true"], ["sleep", "0.05"],
                                  ["unshare", "--uts", "--ipc", "sleep", "0.05"],
                                  ["unshare", "--fork", "--pid", "true"]])
            procs.append(subprocess.Popen(argv))
            procs = [p for p in procs if p.poll() is None]
        for p in procs:
            p.wait()

    threads = [threading.Thread(target=churn) for _ in range(3)]
    for t in threads:
        t.start()
    try:
        for _ in range(200):
            snap = collect(cgroup_figures=False)
            # every namespace id reported for a process that still lives (same
            # start time) is still that process's namespace of that type
            for pid in random.sample(list(snap.processes), min(20, len(snap.processes))):
                p = snap.processes[pid]
                try:
                    # `unshare` changes its own namespaces before it execs the
                    # payload; once the comm is the payload's they are final
                    if p.comm == "unshare":
                        continue
                    with open(f"/proc/{pid}/stat", "rb") as f:
                        comm, _, _, _, start = parse_stat(f.read())
                        if start != p.starttime or comm != p.comm:
                            continue
                    for link, ino in p.ns.items():
                        text = os.readlink(f"/proc/{pid}/ns/{link}")
                        assert snap.namespaces[ino].type == text.split(":")[0]
                        assert ino == int(text[text.index("[") + 1:-1])
                except (FileNotFoundError, ProcessLookupError):
                    continue
    finally:
        stop.set()
        for t in threads:
            t.join()

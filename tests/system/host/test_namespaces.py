"""The namespace picture against util-linux's lsns on real namespaces."""

from __future__ import annotations

import json
import os
import subprocess

import pytest

from nsscope.host import namespaces
from nsscope.host.collector import collect

from support import need_root, need_tool, run_nsscope
from support.scenario import Scenario, ns_ino


def flatten(items):
    """lsns -J nests some namespaces under "children"; nsscope lists them flat."""
    for item in items:
        yield item
        yield from flatten(item.get("children", []))


def lsns_json(*args: str) -> dict[int, dict]:
    # lsns 2.38 exits 1 when a process it is reading exits under it; try again
    for _ in range(5):
        out = subprocess.run(["lsns", "-J", *args], capture_output=True, text=True, check=False)
        if out.returncode == 0:
            return {i["ns"]: i for i in flatten(json.loads(out.stdout)["namespaces"])}
    raise AssertionError(f"lsns failed: {out.stderr}")


def nsscope_json(*args: str) -> dict[int, dict]:
    out = run_nsscope("ls", "--json", *args, check=True)
    return {i["ns"]: i for i in json.loads(out.stdout)["namespaces"]}


def key(item: dict) -> tuple:
    return (item["type"], item["nprocs"], item["pid"])


def compare_with_lsns(*args: str, tries: int = 10) -> tuple[dict, dict]:
    """nsscope ls --json taken between two identical lsns -J runs.

    The host keeps changing (other processes come and go); only when lsns
    saw the same state before and after is a comparison fair, and even then a
    process may have come and gone in between. So: up to ``tries`` windows;
    the first whose three readings agree is returned. A real difference is
    systematic and shows in every window: then the last stable window is
    returned, and the caller's asserts show the difference.
    """
    stable = None
    for _ in range(tries):
        before = lsns_json(*args)
        ours = nsscope_json(*args)
        after = lsns_json(*args)
        if {k: key(v) for k, v in before.items()} != {k: key(v) for k, v in after.items()}:
            continue
        stable = (before, ours)
        if all(k in ours and key(ours[k]) == key(v) for k, v in before.items()):
            return stable
    if stable is None:
        pytest.fail("the host never held still long enough to compare with lsns")
    return stable


@pytest.fixture
def scenario():
    need_root()
    need_tool("lsns")
    need_tool("unshare")
    s = Scenario()
    yield s
    s.close()


def test_ls_matches_lsns_on_many_flag_sets(scenario):
    pids = {
        "uts_ipc": scenario.unshare("--uts", "--ipc"),
        "net": scenario.unshare("--net"),
        "mnt": scenario.unshare("--mount"),
        "pid": scenario.unshare("--fork", "--pid", "--mount-proc"),
        "cgroup": scenario.unshare("--cgroup"),
        "time": scenario.unshare("--fork", "--time", "--boottime", "100"),
        "user": scenario.unshare("--user", "--map-root-user", "--uts"),
        "nested_pid": scenario.spawn(
            ["unshare", "--fork", "--pid", "--mount-proc",
             "unshare", "--fork", "--pid", "--mount-proc", "sleep", "1000"], settle="sleep"),
    }
    lsns, ours = compare_with_lsns()
    for ino, item in lsns.items():
        assert ino in ours, f"lsns lists {item}, nsscope does not"
        assert key(ours[ino]) == key(item), (item, ours[ino])
    for ino, item in ours.items():
        if ino not in lsns:
            assert item["nprocs"] == 0, f"nsscope invented {item}"
    # and the scenario's namespaces really are there, with their sleep as a member
    for pid in pids.values():
        for link in ("uts", "net", "mnt", "pid", "cgroup", "time", "user"):
            assert ns_ino(pid, link) in ours
    # user column and command agree too
    for ino, item in lsns.items():
        assert ours[ino]["user"] == item["user"]
        assert ours[ino]["command"] == item["command"]


def test_owner_and_parent_match_lsns(scenario):
    user_pid = scenario.unshare("--user", "--map-root-user", "--uts", "--net")
    nested = scenario.spawn(["unshare", "--fork", "--pid", "--mount-proc",
                             "unshare", "--fork", "--pid", "--mount-proc", "sleep", "1000"],
                            settle="sleep")
    cols = "NS,TYPE,NPROCS,PID,PNS,ONS"
    lsns, ours = compare_with_lsns("-o", cols)
    for ino, item in lsns.items():
        if ino in ours:
            assert (ours[ino]["pns"], ours[ino]["ons"]) == (item["pns"], item["ons"]), item
    user_ns = ns_ino(user_pid, "user")
    assert ours[ns_ino(user_pid, "uts")]["ons"] == user_ns
    assert ours[ns_ino(user_pid, "net")]["ons"] == user_ns
    assert ours[user_ns]["pns"] == ns_ino(os.getpid(), "user")
    inner = ns_ino(nested, "pid")
    outer = lsns[inner]["pns"]
    assert ours[inner]["pns"] == outer and outer != ns_ino(os.getpid(), "pid")
    # the snapshot records who created the user namespace (NS_GET_OWNER_UID)
    snap = collect()
    assert snap.namespaces[user_ns].owner_uid == 0


def test_processless_namespaces_are_found(scenario):
    name = scenario.add_netns()
    bound = os.stat(f"/run/netns/{name}").st_ino  # the oracle: the bind mount itself
    holder, fd, held = scenario.fd_held_netns()
    assert os.stat(f"/proc/{holder}/fd/{fd}").st_ino == held
    ours = nsscope_json("-o", "+PATH,NSFS")
    assert ours[bound]["nprocs"] == 0
    assert ours[bound]["type"] == "net"
    assert ours[bound]["path"] == f"/run/netns/{name}"
    assert ours[bound]["nsfs"] == f"/run/netns/{name}"
    assert ours[held]["nprocs"] == 0 and ours[held]["type"] == "net"
    assert ours[held]["path"] == f"/proc/{holder}/fd/{fd}"
    # lsns 2.38 does not list these at all; whatever it does list still agrees
    lsns, ours = compare_with_lsns()
    assert bound not in lsns
    for ino, item in lsns.items():
        assert key(ours[ino]) == key(item)


def test_nsfs_column_for_a_netns_with_processes(scenario):
    name = scenario.add_netns()
    pid = scenario.spawn(["ip", "netns", "exec", name, "sleep", "1000"], settle="sleep")
    ino = ns_ino(pid, "net")
    lsns = lsns_json("-o", "NS,TYPE,NPROCS,PID,NSFS")
    ours = nsscope_json("-o", "NS,TYPE,NPROCS,PID,NSFS")
    assert ours[ino]["nsfs"] == lsns[ino]["nsfs"] == f"/run/netns/{name}"
    assert ours[ino]["nprocs"] == 1


def test_type_and_task_filters_match_lsns(scenario):
    pid = scenario.unshare("--uts", "--net")
    for args in (("-t", "net"), ("-t", "uts", "-t", "ipc"), ("-p", str(pid))):
        lsns, ours = compare_with_lsns(*args)
        assert {k: key(v) for k, v in lsns.items()} == \
            {k: key(v) for k, v in ours.items() if v["nprocs"] or k in lsns}


def test_table_output_has_lsns_columns(scenario):
    scenario.unshare("--uts")
    out = run_nsscope("ls", check=True).stdout.splitlines()
    assert out[0].split() == ["NS", "TYPE", "NPROCS", "PID", "USER", "COMMAND"]
    lsns = subprocess.run(["lsns", "-n", "-o", "NS,TYPE"], capture_output=True, text=True,
                          check=True).stdout.split()
    ours = [tuple(line.split()[:2]) for line in out[1:]]
    assert set(zip(lsns[::2], lsns[1::2], strict=True)) <= set(ours)


def test_host_namespaces_are_the_initial_ones():
    need_root()
    snap = collect()
    # kernel threads run in the initial namespaces (init_nsproxy)
    kthread = next(p for p in snap.processes.values() if p.kernel_thread and p.ns)
    for typ, ino in snap.host_ns.items():
        assert kthread.ns[typ] == ino
    assert snap.host_ns["user"] == namespaces.host_namespaces(snap.processes)["user"]


def test_netnsid_matches_lsns(scenario):
    name = scenario.add_netns()
    subprocess.run(["ip", "netns", "set", name, "42"], check=True)
    pid = scenario.spawn(["ip", "netns", "exec", name, "sleep", "1000"], settle="sleep")
    ino = ns_ino(pid, "net")
    lsns = lsns_json("-t", "net", "-o", "NS,NETNSID")
    ours = nsscope_json("-t", "net", "-o", "NS,NETNSID")
    # lsns 2.38 prints the id as a string ("42", "unassigned"); nsscope as a number or null
    assert ours[ino]["netnsid"] == int(lsns[ino]["netnsid"]) == 42
    for k, item in lsns.items():
        if k in ours:
            expected = None if item["netnsid"] == "unassigned" else int(item["netnsid"])
            assert ours[k]["netnsid"] == expected

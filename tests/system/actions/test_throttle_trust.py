"""``nsscope throttle`` never undoes someone else's change, and never lets a process out of
the limits it was under (issue 13 point 3, issue 12 item 7).

Oracles: the kernel's cgroup files and /proc/PID/cgroup, the CPU share measured
from /proc/PID/stat, and docker's own view (``docker inspect``).
"""

from __future__ import annotations

import os
import time

import pytest

from nsscope.actions import throttle

from support import need_v2_host, read_file, run_nsscope, write_file
from support.lab import TOLERANCE, favour, limit_text, measure, proc_cgroups
from support.runtimes import Dockerd, busybox_rootfs


def cpu_path(pid: int, hst: throttle.Host) -> str:
    for line in proc_cgroups(pid).splitlines():
        _, key, path = line.split(":", 2)
        if key == hst.cpu.key:
            return path
    raise AssertionError("no cpu cgroup")


def set_quota(d: str, cpus: float) -> None:
    """Write a limit by hand, as a runtime or an admin would (not through nsscope)."""
    if os.path.exists(d + "/cpu.max"):
        write_file(d + "/cpu.max", f"{round(cpus * 100000)} 100000")
    else:
        write_file(d + "/cpu.cfs_quota_us", str(round(cpus * 100000)))


def one_line(r, code: int) -> str:
    assert r.returncode == code, (r.returncode, r.stdout, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in r.stderr, r.stderr
    return lines[0]


# --- reset never silently undoes a change made after nsscope's -----------------------------

@pytest.mark.v2
def test_reset_refuses_over_an_outside_change_and_force_restores(lab):
    """A cgroup limited in place (the process's own); then its limit is changed by hand:
    --reset changes nothing, says what it found, wrote and would restore, exits 1;
    --reset --force restores the original."""
    cg = lab.cgroup()
    pid = lab.spawn(["sleep", "1000"])
    cg.add(pid)
    original = limit_text(cg.cpu_dir)
    run_nsscope("throttle", f"pid:{pid}", "20%", check=True)
    set_quota(cg.cpu_dir, 0.4)  # someone else's change
    changed = limit_text(cg.cpu_dir)
    msg = one_line(run_nsscope("throttle", f"pid:{pid}", "--reset"), 1)
    assert "changed since nsscope limited it" in msg
    assert "40000" in msg and "nsscope wrote 20000" in msg  # found, and wrote
    assert ("max 100000" if "cpu.max" in original else "cpu.cfs_quota_us -1") in msg  # would
    assert "--reset --force" in msg and "nothing was changed" in msg
    assert limit_text(cg.cpu_dir) == changed
    assert throttle.record_for(cg.path) is not None  # still recorded
    r = run_nsscope("throttle", f"pid:{pid}", "--reset", "--force", check=True)
    assert "as --force asked" in r.stdout
    assert limit_text(cg.cpu_dir) == original
    assert throttle.record_for(cg.path) is None


@pytest.mark.v2
def test_a_new_limit_over_an_outside_change_says_so_and_reset_keeps_that_change(lab):
    cg = lab.cgroup()
    pid = lab.spawn(["sleep", "1000"])
    cg.add(pid)
    run_nsscope("throttle", f"pid:{pid}", "20%", check=True)
    set_quota(cg.cpu_dir, 0.4)
    r = run_nsscope("throttle", f"pid:{pid}", "30%", check=True)
    assert "was changed since nsscope wrote it" in r.stdout
    assert "that is now the original --reset restores" in r.stdout
    assert "30000" in "".join(limit_text(cg.cpu_dir).values())
    run_nsscope("throttle", f"pid:{pid}", "--reset", check=True)
    # the outside change is what comes back, not the value from before nsscope's first
    assert "40000" in "".join(limit_text(cg.cpu_dir).values())


@pytest.mark.v2
def test_reset_moves_back_only_what_is_still_where_nsscope_put_it(lab):
    """A process nsscope moved, then moved elsewhere by someone else: --reset leaves it
    there (says so) and still removes nsscope's cgroup; a child forked inside goes back."""
    shared = lab.cgroup()
    other = lab.cgroup()
    mover = lab.spawn(["sh", "-c", "sleep 1000 & sleep 1000; wait"])
    neighbour = lab.spawn(["sleep", "1000"])
    shared.add(mover)
    shared.add(neighbour)
    hst = throttle.host()
    r = run_nsscope("throttle", f"pid:{mover}", "20%", check=True)
    made = cpu_path(mover, hst)
    assert made != shared.path and "moved it to" in r.stdout
    other.add(mover)  # an admin moves it on
    r = run_nsscope("throttle", f"pid:{mover}", "--reset", check=True)
    assert f"pid {mover} was moved out of {made}" in r.stdout
    assert cpu_path(mover, hst) == other.path  # left where the admin put it
    assert not os.path.exists(hst.dir(made))


@pytest.fixture(scope="module")
def docker(tmp_path_factory):
    base = tmp_path_factory.mktemp("nsscope-test-throttle-docker")
    (base / "d").mkdir()
    d = Dockerd(base / "d", busybox_rootfs(base / "rootfs"))
    try:
        yield d
    finally:
        d.close()


def test_docker_update_after_a_throttle_is_not_undone(docker, lab):
    """The issue's scene: throttle a docker container to 20 %, `docker update --cpus 0.4`,
    --reset: nothing changes (docker and the kernel keep agreeing), exit 1; --force
    restores docker's original 0.5."""
    name = f"nsscope-test-upd-{os.getpid()}"
    cid, pid = docker.run(name, "--cpus", "0.5")
    try:
        hst = throttle.host()
        d = hst.dir(cpu_path(pid, hst))
        run_nsscope("throttle", name, "20%", check=True)
        assert "20000" in "".join(limit_text(d).values())
        docker.cli("update", "--cpus", "0.4", name)
        assert "40000" in "".join(limit_text(d).values())
        msg = one_line(run_nsscope("throttle", name, "--reset"), 1)
        assert "40000" in msg and "nsscope wrote 20000" in msg and "50000" in msg
        assert "40000" in "".join(limit_text(d).values())
        assert docker.cli("inspect", "-f", "{{.HostConfig.NanoCpus}}", name).stdout.strip() == \
            "400000000"
        run_nsscope("throttle", f"id:{cid}", "--reset", "--force", check=True)
        assert "50000" in "".join(limit_text(d).values())
        assert throttle.record_for(cpu_path(pid, hst)) is None
    finally:
        docker.cli("rm", "-f", name, check=False)


# --- a process in its container's cgroup stays under its limits ---------------------------

def _shared_limited(lab, cpus: float = 0.1):
    """A container-like cgroup held to ``cpus``, a busy loop and a neighbour in it."""
    cg = lab.cgroup()
    set_quota(cg.cpu_dir, cpus)
    busy = lab.busy(1)
    neighbour = lab.spawn(["sleep", "1000"])
    cg.add(busy)
    cg.add(neighbour)
    favour(cg.dirs)
    return cg, busy


@pytest.mark.v2
def test_a_higher_limit_never_lets_a_process_out_of_its_container(lab):
    """`throttle PID 150%` on a 0.1-CPU busy loop sharing its container's cgroup took it
    to 0.99 CPU (it was moved to the root's /nsscope). Now it is refused, and the loop
    stays at its container's 10 %."""
    _, busy = _shared_limited(lab)
    hst = throttle.host()
    before = proc_cgroups(busy)
    r = run_nsscope("throttle", f"pid:{busy}", "150%")
    assert r.returncode == 1 and "Traceback" not in r.stderr, r.stderr
    assert proc_cgroups(busy) == before
    share = measure(busy)
    print(f"after throttle 150% (refused, v{hst.version}): {share:.1f}%")
    assert share <= 10.0 + TOLERANCE
    msg = r.stderr
    if hst.version == 1:
        assert "held to 10% by" in msg and "cannot be more than that" in msg
    else:
        assert "no internal process constraint" in msg and "the cpu limit 10% of" in msg
        assert "--force" in msg


def test_v1_a_lower_limit_goes_beneath_the_container_cgroup(lab):
    """cgroup v1: the throttle cgroup is made beneath the process's own cgroup, in the cpu
    hierarchy and its companions; every other hierarchy is left; the loop is held to
    the new, lower limit; --reset puts it back and removes what was made."""
    hst = throttle.host()
    if hst.version != 1:
        pytest.skip("cgroup v1 (the v2 case: test_v2_…)")
    cg, busy = _shared_limited(lab, 0.3)
    before = proc_cgroups(busy)
    r = run_nsscope("throttle", f"pid:{busy}", "10%", check=True)
    nested = f"{cg.path}/nsscope-throttle-{busy}"
    assert f"moved it to {nested}" in r.stdout and "limits still bind it" in r.stdout
    for line in proc_cgroups(busy).splitlines():
        _, key, path = line.split(":", 2)
        h = hst.by_key(key)
        if h is hst.cpu or h in hst.companions:
            old = next(x.split(":", 2)[2] for x in before.splitlines()
                       if x.split(":", 2)[1] == key)
            assert path == (f"{old}/nsscope-throttle-{busy}" if old != "/" else
                            f"/nsscope/throttle-{busy}"), line
        else:
            assert line in before.splitlines(), line  # memory, pids …: untouched
    favour([hst.dir(nested)])
    time.sleep(0.3)
    share = measure(busy)
    print(f"throttle 10% beneath a 30% container (v1): {share:.1f}%")
    assert abs(share - 10.0) <= TOLERANCE
    run_nsscope("throttle", f"pid:{busy}", "--reset", check=True)
    assert proc_cgroups(busy) == before
    assert not os.path.exists(hst.dir(nested))


@pytest.mark.v2
@pytest.mark.v2only
def test_v2_moving_out_of_a_cgroup_with_limits_needs_force(lab):
    """cgroup v2: nothing with the cpu controller can be made beneath a cgroup holding
    processes. A lower CPU limit is allowed to the top only when no other limit of the
    cgroup binds the process; a pids.max there makes it a refusal; --force moves it,
    saying what it leaves."""
    need_v2_host()
    root = throttle.host().cpu.mountpoint
    if "pids" not in read_file(root + "/cgroup.subtree_control").split():
        write_file(root + "/cgroup.subtree_control", "+pids")
    cg, busy = _shared_limited(lab, 0.3)
    write_file(cg.cpu_dir + "/pids.max", "100")
    before = proc_cgroups(busy)
    msg = one_line(run_nsscope("throttle", f"pid:{busy}", "10%"), 1)
    assert "pids.max 100 of" in msg and "--force" in msg
    assert proc_cgroups(busy) == before
    r = run_nsscope("throttle", f"pid:{busy}", "10%", "--force", check=True)
    assert "as --force asked" in r.stdout and f"/nsscope/throttle-{busy}" in r.stdout
    share = measure(busy)
    print(f"throttle 10% --force out of a 30% cgroup (v2): {share:.1f}%")
    assert share <= 10.0 + TOLERANCE
    run_nsscope("throttle", f"pid:{busy}", "--reset", check=True)
    assert proc_cgroups(busy) == before


# --- --watch acts on what it resolved ------------------------------------------------------

def test_watch_changes_only_the_process_it_resolved(lab):
    """--watch keeps the Target it resolved (pid and start time, or the container): a
    limit typed after that pid names another process is refused, nothing changed."""
    import argparse

    from nsscope.cli.throttle import Watch
    from nsscope.host.collector import Roots
    from nsscope.host.target import Target
    from nsscope.host.targets import resolve

    pid = lab.spawn(["sleep", "1000"])
    t = resolve(f"pid:{pid}")
    before = proc_cgroups(pid)
    args = argparse.Namespace(tree=False, interval=1.0, count=1, force=False)
    stale = Target(pid=pid, starttime=t.starttime + 1)  # the pid, reused by another
    w = Watch(stale, cpu_path(pid, throttle.host()), args, Roots())
    w.change(throttle.parse_limit("20%"))
    assert "exited" in w.message and "another process" in w.message
    assert proc_cgroups(pid) == before
    assert not any(r.target.pid == pid for r in throttle.records())

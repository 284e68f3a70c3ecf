"""``nsscope gc`` removes the nsscope0 bridge once no container is on it, and with
``--images`` the cached roots no container was made from (issue 12, item 15)."""

from __future__ import annotations

import json
import os

from nsscope.actions.run import lifecycle, net

from support import need_root, need_tool, run_nsscope


def test_gc_removes_the_bridge_when_no_container_uses_it():
    """Today's bug: nsscope0 stayed for good after the last --net bridge run."""
    need_root()
    need_tool("busybox")
    need_tool("ip")
    r = run_nsscope("run", "--rm", "--busybox", "--net", "bridge", "--", "true")
    assert r.returncode == 0, r.stderr
    assert net.has_link(net.BRIDGE)
    ports = os.listdir(f"/sys/class/net/{net.BRIDGE}/brif")
    r = run_nsscope("gc")
    assert r.returncode == 0, r.stderr
    if ports:  # another session's container is on it right now: it must stay
        assert net.has_link(net.BRIDGE)
    else:
        assert not net.has_link(net.BRIDGE) and f"removed bridge {net.BRIDGE}" in r.stdout


def test_gc_images_keeps_what_a_container_was_made_from(tmp_path):
    """Today: no way to prune the cache. Oracle: a cache and a run dir of the test's own."""
    cache, run_dir = tmp_path / "cache", tmp_path / "run"
    used, unused = cache / "images" / "a", cache / "images" / "b"
    for d in (used, unused, cache / "busybox" / "busybox-1-2"):
        d.mkdir(parents=True)
    cdir = run_dir / "containers" / ("c" * 64)
    cdir.mkdir(parents=True)
    (cdir / "state.json").write_text(json.dumps({
        "id": "c" * 64, "name": "nsscope-test-gc", "status": "stopped", "pid": None,
        "rootfs": str(used)}))
    done = lifecycle.gc_images(run_dir=str(run_dir), cache_dir=str(cache))
    assert used.is_dir() and not unused.exists()
    assert not (cache / "busybox" / "busybox-1-2").exists()
    assert any(str(unused) in line for line in done), done

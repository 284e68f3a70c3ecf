"""podman's BoltDB read while podman writes it (host/containers/podman_state.py).

nsscope reads ``bolt_state.db`` without bbolt's lock, so a read can meet a write half
done. A real podman creates and removes containers in a loop while the database is
read again and again: every read gives whole records (each container's config and
state, ids and names that agree with podman's own registry) or the reader's own
error, never anything else."""

from __future__ import annotations

import os
import subprocess

import pytest

from nsscope.host.containers import boltdb, podman_state

from support import need_root
from support.runtimes import Podman, busybox_rootfs, sh


@pytest.mark.slow
def test_reading_while_podman_writes(tmp_path):
    need_root()
    parent = f"nsscope-test-race-{os.getpid()}"
    pm = Podman(busybox_rootfs(tmp_path / "rootfs"), parent)
    try:
        sh(*pm.pm, "create", "--network", "none", "--cgroup-parent", f"/{parent}", "--name",
           "nsscope-test-stays", pm.image, "true", env=pm.env)
        db = str(pm.base / "root/libpod/bolt_state.db")
        loop = " ".join(pm.pm)
        writer = subprocess.Popen(
            ["sh", "-c", f"for i in $(seq 15); do {loop} create --network none "
                         f"--cgroup-parent /{parent} --name nsscope-test-w$i {pm.image} true "
                         f">/dev/null && {loop} rm nsscope-test-w$i >/dev/null || exit 1; done"],
            env=pm.env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        whole = torn = 0
        try:
            while writer.poll() is None:
                try:  # one read, not read_bolt's retries: every torn read is seen
                    records = podman_state.from_bolt_bytes(boltdb.read_file(db))
                except podman_state.PodmanDBError:
                    torn += 1
                    continue
                whole += 1
                names = {r.config.get("name") for r in records}
                assert "nsscope-test-stays" in names
                assert all(isinstance(r.state.get("state"), int) for r in records)
                assert names <= {"nsscope-test-stays"} | {f"nsscope-test-w{i}"
                                                          for i in range(1, 16)}
        finally:
            _, err = writer.communicate(timeout=120)
        assert writer.returncode == 0, err
        print(f"reads while podman wrote: {whole} whole, {torn} refused")
        assert whole > 0
    finally:
        pm.close()

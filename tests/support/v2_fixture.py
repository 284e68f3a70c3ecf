"""Paths in the captured cgroup-v2 tree (tests/fixtures/cgroup-v2-vm)."""

from __future__ import annotations

from nsscope.host.collector import Roots

from support import V2_FIXTURE

V2 = Roots(proc=str(V2_FIXTURE / "proc"), cgroup=str(V2_FIXTURE / "sys/fs/cgroup"))


DOCKER = ("/system.slice/docker-4f1c2a9e8b7d6c5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e"
          ".scope")

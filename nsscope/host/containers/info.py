"""``Info``: what the runtimes' state files say about one container, filled in by
the per-runtime readers before it becomes a model ``Container``.
"""

from __future__ import annotations

from dataclasses import dataclass

# --- what the runtime's state says about one container ---------------------------

@dataclass
class Info:
    runtime: str
    id: str
    name: str | None = None
    image: str | None = None
    rootfs: str | None = None
    pid: int | None = None
    pod: str | None = None
    k8s_namespace: str | None = None
    pod_uid: str | None = None
    infra: bool = False



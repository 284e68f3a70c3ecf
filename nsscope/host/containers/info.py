"""``Info``: what the runtimes' state files say about one container, filled in by
the per-runtime readers before it becomes a model ``Container``.
"""

from __future__ import annotations

# --- what the runtime's state says about one container ---------------------------

class Info:
    """Filled in field by field by the runtime readers (a plain class: a dataclass
    costs ~1 ms to define and its module ~15 ms to import)."""

    __slots__ = ("created", "id", "image", "infra", "k8s_namespace", "name", "pid", "pod",
                 "pod_uid", "rootfs", "runtime")

    def __init__(self, runtime: str, id: str, name: str | None = None,
                 image: str | None = None, rootfs: str | None = None, pid: int | None = None,
                 pod: str | None = None, k8s_namespace: str | None = None,
                 pod_uid: str | None = None, infra: bool = False) -> None:
        self.runtime = runtime
        self.id = id
        self.name = name
        self.image = image
        self.rootfs = rootfs
        self.pid = pid
        self.pod = pod
        self.k8s_namespace = k8s_namespace
        self.pod_uid = pod_uid
        self.infra = infra
        #: when the runtime made it (seconds since the epoch), where its record says
        self.created: float | None = None

    def __repr__(self) -> str:
        return "Info(" + ", ".join(f"{k}={getattr(self, k)!r}" for k in self.__slots__) + ")"



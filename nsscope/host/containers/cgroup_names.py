"""The cgroup path patterns runtimes give their containers, and what a path says
(runtime, id or name, pod); every pattern cites the runtime source that makes it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# --- cgroup path patterns -------------------------------------------------------

_HEX64 = r"[0-9a-f]{64}"
#: (runtime, regex on one path component; group 1 is the id or name)
_COMPONENT_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    # docker, systemd driver: "system.slice:docker:<id>" becomes
    # system.slice/docker-<id>.scope (moby daemon/oci_linux.go getCgroupsPath;
    # runc libcontainer/cgroups/systemd getUnitName)
    ("docker", re.compile(rf"^docker-({_HEX64})\.scope$")),
    # containerd CRI, systemd driver: "<pod slice>:cri-containerd:<id>"
    # (containerd pkg/cri/server/helpers_linux.go getCgroupsPath)
    ("containerd", re.compile(rf"^cri-containerd-({_HEX64})\.scope$")),
    # CRI-O: crio-<id>.scope (systemd) or crio-<id> (cgroupfs); its conmon is in
    # crio-conmon-<id>.scope, which this does not match (cri-o
    # internal/config/cgmgr/systemd.go and cgroupfs.go, crioPrefix = "crio")
    ("cri-o", re.compile(rf"^crio-({_HEX64})(?:\.scope)?$")),
    # podman: libpod-<id>.scope under machine.slice (systemd) or libpod-<id>
    # under /libpod_parent (cgroupfs); rootless under user.slice/user@UID.service;
    # conmon's libpod-conmon-<id>.scope does not match (libpod/runtime_ctr.go,
    # libpod/oci_conmon_common.go)
    ("podman", re.compile(rf"^libpod-({_HEX64})(?:\.scope)?$")),
    # LXC >= 4.0: lxc.payload.<name>, its monitor in lxc.monitor.<name>
    # (lxc src/lxc/cgroups/cgfsng.c, CGROUP_CREATE_RETRY / "lxc.payload.")
    ("lxc", re.compile(r"^lxc\.payload\.(.+)$")),
    # systemd-machined (systemd-nspawn registered, libvirt VMs): machine-<name>.scope,
    # the name unit-escaped ("-" as \x2d) (systemd src/machine/machine.c)
    ("machined", re.compile(r"^machine-(.+)\.scope$")),
)

#: kubelet pod cgroups. systemd driver: kubepods.slice/kubepods-<qos>.slice/
#: kubepods-<qos>-pod<uid with - as _>.slice, guaranteed pods directly under
#: kubepods.slice; cgroupfs driver: /kubepods[/burstable|/besteffort]/pod<uid>
#: (pkg/kubelet/cm/cgroup_manager_linux.go ToSystemd, escapeSystemdCgroupName;
#: pod_container_manager_linux.go, podCgroupNamePrefix = "pod")
_POD_SYSTEMD = re.compile(r"^kubepods(?:-(burstable|besteffort))?-pod([0-9a-f_]+)\.slice$")
_POD_CGROUPFS = re.compile(r"^pod([0-9a-f-]{36})$")
_QOS_DIRS = ("burstable", "besteffort")


@dataclass(frozen=True)
class CgroupMatch:
    runtime: str
    key: str  # id or name
    path: str  # the container's cgroup path


def _unescape_unit(name: str) -> str:
    """systemd unit-name escaping: \\xNN (systemd-escape(1))."""
    return re.sub(r"\\x([0-9a-fA-F]{2})", lambda m: chr(int(m.group(1), 16)), name)


def match_cgroup(path: str) -> CgroupMatch | None:
    """The container a cgroup path belongs to, from the innermost matching component."""
    parts = [p for p in path.split("/") if p]
    for i in range(len(parts) - 1, -1, -1):
        comp = parts[i]
        parent = parts[i - 1] if i else ""
        where = "/" + "/".join(parts[:i + 1])
        for runtime, rx in _COMPONENT_PATTERNS:
            m = rx.match(comp)
            if m:
                key = m.group(1)
                if runtime == "machined":
                    key = _unescape_unit(key)
                return CgroupMatch(runtime, key, where)
        # docker, cgroupfs driver: /docker/<id> (moby daemon/oci_linux.go,
        # cgroupsParent "/docker" joined with the id)
        if parent == "docker" and re.fullmatch(_HEX64, comp):
            return CgroupMatch("docker", comp, where)
        # kubelet cgroupfs driver: the runtime names the container <id> inside
        # pod<uid> (containerd getCgroupsPath joins parent and id)
        if _POD_CGROUPFS.match(parent) and re.fullmatch(r"[0-9a-f]{64}", comp):
            return CgroupMatch("kubernetes", comp, where)
        # nsscope's own (nsscope run): /nsscope/<id> (nsscope/actions/run/cgroup.py)
        if parent == "nsscope" and i == 1 and re.fullmatch(_HEX64, comp):
            return CgroupMatch("nsscope", comp, where)
        # LXC < 4.0: /lxc/<name> (legacy cgfs layout); 3.x briefly lxc.payload/<name>
        if parent in ("lxc", "lxc.payload") and not comp.startswith("lxc."):
            return CgroupMatch("lxc", comp, where)
    return None


def pod_of_cgroup(path: str) -> tuple[str | None, str | None]:
    """(pod uid, QoS class) from a kubepods cgroup path, else (None, None)."""
    parts = [p for p in path.split("/") if p]
    for i, comp in enumerate(parts):
        m = _POD_SYSTEMD.match(comp)
        if m:
            return m.group(2).replace("_", "-"), m.group(1) or "guaranteed"
        m = _POD_CGROUPFS.match(comp)
        if m and "kubepods" in parts[:i]:
            qos = parts[i - 1] if parts[i - 1] in _QOS_DIRS else "guaranteed"
            return m.group(1), qos
    return None, None



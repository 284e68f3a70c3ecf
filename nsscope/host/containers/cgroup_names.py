"""The cgroup path patterns runtimes give their containers, and what a path says
(runtime, id or name, pod); every pattern cites the runtime source that makes it.

The patterns are matched with string methods, not ``re``: ``nsscope ps`` would
pay ~8 ms of start-up for the re module, more than its whole collection on a
small host. Each matcher's docstring gives the regular expression it stands for
(with ``re.match`` semantics: ``$`` also matches before a final newline), and
tests/unit/host/test_cgroup_names.py holds every matcher to its expression.
"""

from __future__ import annotations

from nsscope.records import Record

_HEX = frozenset("0123456789abcdef")
_POD_UID_CHARS = frozenset("0123456789abcdef-")
_SYSTEMD_UID_CHARS = frozenset("0123456789abcdef_")


def is_hex(text: str, length: int | None = None, *, at_least: int = 1) -> bool:
    """``re.fullmatch("[0-9a-f]{length}", text)`` (``{at_least,}`` without length)."""
    if length is not None and len(text) != length:
        return False
    return len(text) >= at_least and _HEX.issuperset(text)


def _line(text: str) -> str:
    """What ``$`` lets a pattern end on: the text without one final newline."""
    return text[:-1] if text.endswith("\n") else text


def _id_between(comp: str, prefix: str, suffix: str, *, optional: bool = False) -> str | None:
    """``^PREFIX([0-9a-f]{64})SUFFIX$`` (``(?:SUFFIX)?`` when ``optional``): the id."""
    text = _line(comp)
    if not text.startswith(prefix):
        return None
    body = text[len(prefix):]
    if body.endswith(suffix) and is_hex(body[:-len(suffix)], 64):
        return body[:-len(suffix)]
    if optional and is_hex(body, 64):
        return body
    return None


def _docker(comp: str) -> str | None:
    """``^docker-([0-9a-f]{64})\\.scope$``"""
    return _id_between(comp, "docker-", ".scope")


def _containerd(comp: str) -> str | None:
    """``^cri-containerd-([0-9a-f]{64})\\.scope$``"""
    return _id_between(comp, "cri-containerd-", ".scope")


def _crio(comp: str) -> str | None:
    """``^crio-([0-9a-f]{64})(?:\\.scope)?$``"""
    return _id_between(comp, "crio-", ".scope", optional=True)


def _podman(comp: str) -> str | None:
    """``^libpod-([0-9a-f]{64})(?:\\.scope)?$``"""
    return _id_between(comp, "libpod-", ".scope", optional=True)


def _lxc(comp: str) -> str | None:
    """``^lxc\\.payload\\.(.+)$`` (``.`` is anything but a newline)"""
    text = _line(comp)
    if not text.startswith("lxc.payload."):
        return None
    name = text[len("lxc.payload."):]
    return name if name and "\n" not in name else None


def _machined(comp: str) -> str | None:
    """``^machine-(.+)\\.scope$``"""
    text = _line(comp)
    if not text.startswith("machine-") or not text.endswith(".scope"):
        return None
    name = text[len("machine-"):-len(".scope")]
    return name if name and "\n" not in name and len(text) > 14 else None


# --- cgroup path patterns -------------------------------------------------------

#: (runtime, matcher of one path component returning the id or name)
_COMPONENT_PATTERNS = (
    # docker, systemd driver: "system.slice:docker:<id>" becomes
    # system.slice/docker-<id>.scope (moby daemon/oci_linux.go getCgroupsPath;
    # runc libcontainer/cgroups/systemd getUnitName)
    ("docker", _docker),
    # containerd CRI, systemd driver: "<pod slice>:cri-containerd:<id>"
    # (containerd pkg/cri/server/helpers_linux.go getCgroupsPath)
    ("containerd", _containerd),
    # CRI-O: crio-<id>.scope (systemd) or crio-<id> (cgroupfs); its conmon is in
    # crio-conmon-<id>.scope, which this does not match (cri-o
    # internal/config/cgmgr/systemd.go and cgroupfs.go, crioPrefix = "crio")
    ("cri-o", _crio),
    # podman: libpod-<id>.scope under machine.slice (systemd) or libpod-<id>
    # under /libpod_parent (cgroupfs); rootless under user.slice/user@UID.service;
    # conmon's libpod-conmon-<id>.scope does not match (libpod/runtime_ctr.go,
    # libpod/oci_conmon_common.go)
    ("podman", _podman),
    # LXC >= 4.0: lxc.payload.<name>, its monitor in lxc.monitor.<name>
    # (lxc src/lxc/cgroups/cgfsng.c, CGROUP_CREATE_RETRY / "lxc.payload.")
    ("lxc", _lxc),
    # systemd-machined (systemd-nspawn registered, libvirt VMs): machine-<name>.scope,
    # the name unit-escaped ("-" as \x2d) (systemd src/machine/machine.c)
    ("machined", _machined),
)

#: kubelet pod cgroups. systemd driver: kubepods.slice/kubepods-<qos>.slice/
#: kubepods-<qos>-pod<uid with - as _>.slice, guaranteed pods directly under
#: kubepods.slice; cgroupfs driver: /kubepods[/burstable|/besteffort]/pod<uid>
#: (pkg/kubelet/cm/cgroup_manager_linux.go ToSystemd, escapeSystemdCgroupName;
#: pod_container_manager_linux.go, podCgroupNamePrefix = "pod")
_QOS_DIRS = ("burstable", "besteffort")


def _pod_systemd(comp: str) -> tuple[str | None, str] | None:
    """``^kubepods(?:-(burstable|besteffort))?-pod([0-9a-f_]+)\\.slice$``: (qos, uid)."""
    text = _line(comp)
    if not text.startswith("kubepods") or not text.endswith(".slice"):
        return None
    rest, qos = text[len("kubepods"):-len(".slice")], None
    for q in _QOS_DIRS:
        if rest.startswith(f"-{q}-pod"):
            rest, qos = rest[len(q) + 1:], q
            break
    if not rest.startswith("-pod") or len(text) < len("kubepods-pod.slice"):
        return None
    uid = rest[len("-pod"):]
    return (qos, uid) if uid and _SYSTEMD_UID_CHARS.issuperset(uid) else None


def _pod_cgroupfs(comp: str) -> str | None:
    """``^pod([0-9a-f-]{36})$``: the pod uid."""
    text = _line(comp)
    if not text.startswith("pod") or len(text) != 39:
        return None
    uid = text[3:]
    return uid if _POD_UID_CHARS.issuperset(uid) else None


class CgroupMatch(Record):
    runtime: str
    key: str  # id or name
    path: str  # the container's cgroup path


def _unescape_unit(name: str) -> str:
    """systemd unit-name escaping: \\xNN (systemd-escape(1)); what
    ``re.sub(r"\\\\x([0-9a-fA-F]{2})", chr(int(NN, 16)), name)`` makes of it."""
    if "\\x" not in name:
        return name
    out, i = [], 0
    while i < len(name):
        digits = name[i + 2:i + 4]
        if name.startswith("\\x", i) and len(digits) == 2 and \
                all(c in "0123456789abcdefABCDEF" for c in digits):
            out.append(chr(int(digits, 16)))
            i += 4
        else:
            out.append(name[i])
            i += 1
    return "".join(out)


def match_cgroup(path: str) -> CgroupMatch | None:
    """The container a cgroup path belongs to, from the innermost matching component."""
    parts = [p for p in path.split("/") if p]
    for i in range(len(parts) - 1, -1, -1):
        comp = parts[i]
        parent = parts[i - 1] if i else ""
        where = "/" + "/".join(parts[:i + 1])
        for runtime, matcher in _COMPONENT_PATTERNS:
            key = matcher(comp)
            if key is not None:
                if runtime == "machined":
                    key = _unescape_unit(key)
                return CgroupMatch(runtime, key, where)
        # docker, cgroupfs driver: /docker/<id> (moby daemon/oci_linux.go,
        # cgroupsParent "/docker" joined with the id)
        if parent == "docker" and is_hex(comp, 64):
            return CgroupMatch("docker", comp, where)
        # kubelet cgroupfs driver: the runtime names the container <id> inside
        # pod<uid> (containerd getCgroupsPath joins parent and id)
        if _pod_cgroupfs(parent) is not None and is_hex(comp, 64):
            return CgroupMatch("kubernetes", comp, where)
        # nsscope's own (nsscope run): /nsscope/<id> (nsscope/actions/run/cgroup.py)
        if parent == "nsscope" and i == 1 and is_hex(comp, 64):
            return CgroupMatch("nsscope", comp, where)
        # LXC < 4.0: /lxc/<name> (legacy cgfs layout); 3.x briefly lxc.payload/<name>
        if parent in ("lxc", "lxc.payload") and not comp.startswith("lxc."):
            return CgroupMatch("lxc", comp, where)
    return None


def pod_of_cgroup(path: str) -> tuple[str | None, str | None]:
    """(pod uid, QoS class) from a kubepods cgroup path, else (None, None)."""
    parts = [p for p in path.split("/") if p]
    for i, comp in enumerate(parts):
        m = _pod_systemd(comp)
        if m is not None:
            return m[1].replace("_", "-"), m[0] or "guaranteed"
        uid = _pod_cgroupfs(comp)
        if uid is not None and "kubepods" in parts[:i]:
            qos = parts[i - 1] if parts[i - 1] in _QOS_DIRS else "guaranteed"
            return uid, qos
    return None, None

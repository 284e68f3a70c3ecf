"""What the user asked ``nsscope run`` for: the options, parsed and checked.

Everything that can be judged without touching the system is judged here, so a
bad option fails before anything is created (one line, exit 2). The spec is
saved as ``config.json`` in the container's state directory and handed to the
container's helper as a plain dict (``to_dict``).

The records are ``records.Record`` (typed namedtuples), not dataclasses, and
the checks are string methods, not regular expressions: every ``nsscope run``
imports this module, and ``dataclasses`` (with ``inspect``, ``ast``, ``dis`` …)
costs ~13 ms of start-up, ``re`` (with ``enum``) ~6 ms, against runc's ~25 ms
for a whole run.
"""

from __future__ import annotations

import os

from nsscope.errors import BadInput
from nsscope.records import Record
from nsscope.kernel.syscalls import CAP_NAMES

#: namespaces a container gets by default (runc's set plus cgroup, like lxc and docker on v2)
DEFAULT_NAMESPACES = ("cgroup", "ipc", "mnt", "net", "pid", "uts")
#: what --share may keep from the host
SHAREABLE = DEFAULT_NAMESPACES
#: CFS period used for --cpus (µs), as docker and runc use
CPU_PERIOD_US = 100_000
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
#: the capabilities a container keeps without --privileged: docker's default set
#: (moby oci/caps/defaults.go DefaultCapabilities; CapBnd 00000000a80425fb)
DEFAULT_CAPABILITIES = ("CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER",
                        "CAP_MKNOD", "CAP_NET_RAW", "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP",
                        "CAP_SETPCAP", "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL",
                        "CAP_AUDIT_WRITE")

_DIGITS = frozenset("0123456789")
_ALNUM = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ") | _DIGITS


def _made_of(text: str, allowed: frozenset[str]) -> bool:
    return all(c in allowed for c in text)


def is_name(text: str) -> bool:
    """[a-zA-Z0-9][a-zA-Z0-9_.-]{0,63} (docker's container names, 64 at most)."""
    return 0 < len(text) <= 64 and text[0] in _ALNUM and _made_of(text, _ALNUM | {"_", ".", "-"})


def is_hostname(text: str) -> bool:
    """[a-zA-Z0-9][a-zA-Z0-9.-]{0,62}: at most 63 (HOST_NAME_MAX is 64 with the NUL)."""
    return 0 < len(text) <= 63 and text[0] in _ALNUM and _made_of(text, _ALNUM | {".", "-"})


def is_env_key(text: str) -> bool:
    """[A-Za-z_][A-Za-z0-9_]*, a shell variable name."""
    return bool(text) and text[0] not in _DIGITS and _made_of(text, _ALNUM | {"_"})


def is_cpu_list(text: str) -> bool:
    """The kernel's CPU list format: N or N-M, comma-separated (cpuset(7))."""
    for part in text.split(","):
        first, dash, last = part.partition("-")
        if not first or not _made_of(first, _DIGITS) or (
                dash and (not last or not _made_of(last, _DIGITS))):
            return False
    return True


class Volume(Record):
    """``-v HOST:CTR[:ro]``: the host path ``host`` bound at ``container``."""

    host: str
    container: str
    read_only: bool = False


class Limits(Record):
    """The cgroup limits; None: unlimited."""

    #: CFS quota in µs per CPU_PERIOD_US (``--cpus 0.5`` -> 50000)
    cpu_quota_us: int | None = None
    #: bytes (v1 memory.limit_in_bytes, v2 memory.max)
    memory: int | None = None
    #: pids.max
    pids: int | None = None
    #: cpuset.cpus, in the kernel's list format ("0", "0-1,3")
    cpuset: str | None = None

    @property
    def cpus(self) -> float | None:
        return None if self.cpu_quota_us is None else self.cpu_quota_us / CPU_PERIOD_US


class Spec(Record):
    """One container's options, judged."""

    id: str
    name: str
    #: argv of CMD
    command: tuple[str, ...]
    #: the namespace types the container gets new (of model.NS_TYPES)
    namespaces: tuple[str, ...]
    #: "host" (no rootfs option), "dir", "busybox" or "image"
    rootfs_kind: str = "host"
    #: the directory the container's / comes from (the overlay's lowerdir);
    #: for busybox and image, resolved later to the cache (rootfs.py)
    rootfs: str | None = None
    #: the --image tar, when rootfs_kind is "image"
    image: str | None = None
    #: copy-on-write overlay over ``rootfs`` (else the directory itself is used)
    cow: bool = True
    hostname: str | None = None
    volumes: tuple[Volume, ...] = ()
    #: the container's whole environment, "K=V" (never the host's)
    env: tuple[str, ...] = ()
    workdir: str = "/"
    #: (uid, gid) to run CMD as; None: root
    user: tuple[int, int] | None = None
    #: user namespace maps, (inside, outside, count) as in /proc/PID/uid_map
    uid_map: tuple[tuple[int, int, int], ...] = ()
    gid_map: tuple[tuple[int, int, int], ...] = ()
    #: time namespace offsets in seconds (time_namespaces(7))
    monotonic_offset: int = 0
    boottime_offset: int = 0
    limits: Limits = Limits()
    init: bool = False
    tty: bool = False
    interactive: bool = False
    detach: bool = False
    remove: bool = False
    #: "none" (a new net namespace with lo only), "bridge" or "host"
    net: str = "none"
    #: every capability the caller has, no no_new_privs, no device rules, no
    #: masked paths
    privileged: bool = False
    #: the capabilities kept otherwise (CMD's bounding, permitted and effective
    #: sets): docker's defaults, give or take --cap-add/--cap-drop; None with privileged
    capabilities: tuple[str, ...] | None = DEFAULT_CAPABILITIES
    #: "default": docker's default seccomp profile for these capabilities
    #: (seccomp_profile.py); "unconfined": no filter (--security-opt
    #: seccomp=unconfined, and --privileged, as docker's)
    seccomp: str = "default"

    @property
    def short_id(self) -> str:
        return self.id[:12]

    def new(self, ns_type: str) -> bool:
        return ns_type in self.namespaces

    def to_dict(self) -> dict:
        d = self._asdict()
        d["volumes"] = [v._asdict() for v in self.volumes]
        d["limits"] = self.limits._asdict()
        return d


# --- parsing the option values ------------------------------------------------

#: docker's smallest memory limit (daemon/daemon_unix.go linuxMinMemory): below it a
#: container cannot even start its process
MIN_MEMORY = 6 << 20
#: the largest value the kernel's memory limit can hold (a page_counter is a long)
MAX_MEMORY = (1 << 63) - 1


def parse_size(text: str) -> int:
    """'64M', '512k', '1g', '65536' -> bytes (binary units, as docker's --memory):
    a number, spaces, then k, m, g or t, an i and a b, each optional, any case.
    Exact integer arithmetic (a float made 2**64-1 into 2**64, which the kernel
    read as 0): a fraction of a byte is dropped."""
    rest = text.strip().lower()
    rest = rest[:-1] if rest.endswith("b") else rest
    rest = rest[:-1] if rest.endswith("i") else rest
    unit = rest[-1:] if rest[-1:] in ("k", "m", "g", "t") else ""
    whole, dot, fraction = rest[:len(rest) - len(unit)].rstrip().partition(".")
    if not whole or not _made_of(whole, _DIGITS) or (
            dot and (not fraction or not _made_of(fraction, _DIGITS))):
        raise BadInput(f"not a size: {text!r} (try 64M, 512k, 1G)")
    scale = 1024 ** " kmgt".index(unit or " ")
    value = int(whole) * scale + int(fraction or "0") * scale // 10 ** len(fraction or "0")
    if value < 1:
        raise BadInput(f"size must be positive: {text!r}")
    return value


def parse_memory(text: str) -> int:
    """--memory: a size from docker's minimum (6M) to the kernel's maximum."""
    value = parse_size(text)
    if value < MIN_MEMORY:
        raise BadInput(f"--memory {text}: the minimum is 6M, as docker's (a smaller limit "
                       "kills the container at once)")
    if value > MAX_MEMORY:
        raise BadInput(f"--memory {text}: more than the kernel's maximum (8E); leave out "
                       "--memory for no limit")
    return value


def parse_cpus(cpus: str | None, cpu_percent: str | None) -> int | None:
    """--cpus 0.5 or --cpu 20% -> the CFS quota in µs per CPU_PERIOD_US."""
    if cpus is not None and cpu_percent is not None:
        raise BadInput("give --cpus or --cpu, not both")
    if cpus is None and cpu_percent is None:
        return None
    try:
        if cpus is not None:
            value = float(cpus)
        else:
            text = cpu_percent.strip()  # type: ignore[union-attr]
            value = float(text[:-1] if text.endswith("%") else text) / 100
    except ValueError:
        raise BadInput(f"not a CPU amount: {cpus if cpus is not None else cpu_percent!r} "
                       "(try --cpus 0.5 or --cpu 20%)") from None
    if not value > 0 or value != value or value == float("inf"):
        raise BadInput("the CPU limit must be positive")
    cpus_here = os.cpu_count() or 1
    if value > cpus_here:
        # docker: "range of CPUs is from 0.01 to N" (N: the host's CPUs)
        raise BadInput(f"the CPU limit {value:g} is more than this host's {cpus_here} CPUs")
    # the kernel refuses quotas under 1 ms (sched-bwc.rst); let it say so
    return max(1, round(value * CPU_PERIOD_US))


def parse_positive(text: str, what: str) -> int:
    try:
        value = int(text, 10)
    except ValueError:
        raise BadInput(f"{what} must be a whole number: {text!r}") from None
    if value <= 0:
        raise BadInput(f"{what} must be positive: {text!r}")
    return value


def parse_share(items: list[str]) -> set[str]:
    out: set[str] = set()
    for item in items:
        for t in filter(None, (x.strip() for x in item.split(","))):
            if t not in SHAREABLE:
                raise BadInput(f"--share: unknown namespace type {t!r} "
                               f"(one of {', '.join(SHAREABLE)})")
            out.add(t)
    return out


def parse_map(items: list[str], what: str) -> tuple[tuple[int, int, int], ...]:
    """unshare(1)'s syntax: OUTER,INNER,COUNT -> (inside, outside, count) as uid_map holds."""
    out = []
    for item in items:
        parts = item.replace(":", ",").split(",")
        try:
            outer, inner, count = (int(p, 10) for p in parts)
        except ValueError:
            raise BadInput(f"{what}: expected OUTER,INNER,COUNT, got {item!r}") from None
        if outer < 0 or inner < 0 or count <= 0:
            raise BadInput(f"{what}: ids must be >= 0 and the count positive: {item!r}")
        if max(outer, inner) + count - 1 > MAX_ID:
            raise BadInput(f"{what}: ids go from 0 to {MAX_ID}: {item!r}")
        out.append((inner, outer, count))
    return tuple(out)


def parse_volume(text: str) -> Volume:
    parts = text.split(":")
    mode = "rw"
    if len(parts) == 3:
        host, ctr, mode = parts
    elif len(parts) == 2:
        host, ctr = parts
    else:
        raise BadInput(f"-v: expected HOST:CONTAINER[:ro], got {text!r}")
    if mode not in ("ro", "rw"):
        raise BadInput(f"-v: the mode must be ro or rw, got {mode!r}")
    if not host or not os.path.exists(host):
        raise BadInput(f"-v: no such host path: {host!r}")
    if not ctr.startswith("/"):
        raise BadInput(f"-v: the container path must be absolute: {ctr!r}")
    ctr = os.path.normpath(ctr)
    if ctr == "/":
        raise BadInput("-v: cannot mount a volume on the container's /")
    return Volume(host=os.path.abspath(host), container=ctr, read_only=mode == "ro")


def parse_env(items: list[str]) -> tuple[str, ...]:
    out = []
    for item in items:
        key, sep, _ = item.partition("=")
        if not sep:
            raise BadInput(f"-e: expected KEY=VALUE, got {item!r} (the host's environment "
                           "is never passed in)")
        if not is_env_key(key):
            raise BadInput(f"-e: not a variable name: {key!r}")
        out.append(item)
    return tuple(out)


#: the largest uid or gid (uid_t is 32 bits; (uid_t)-1 means "no change")
MAX_ID = (1 << 32) - 2
#: the largest time namespace offset in seconds (kernel/time/namespace.c
#: proc_timens_set_offset: KTIME_SEC_MAX / 2)
MAX_TIME_OFFSET = ((1 << 63) - 1) // 1_000_000_000 // 2


def parse_user(text: str) -> tuple[int, int]:
    uid_s, _, gid_s = text.partition(":")
    try:
        uid = int(uid_s, 10)
        gid = int(gid_s, 10) if gid_s else uid
    except ValueError:
        raise BadInput(f"--user: expected UID[:GID] (numbers), got {text!r}") from None
    if not (0 <= uid <= MAX_ID and 0 <= gid <= MAX_ID):
        raise BadInput(f"--user: ids go from 0 to {MAX_ID}: {text!r}")
    return uid, gid


def parse_capabilities(items: list[str], what: str) -> list[str]:
    """--cap-add/--cap-drop values as docker spells them: NET_ADMIN, cap_net_admin, ALL;
    repeated or comma-separated."""
    out = []
    for item in items:
        for raw in filter(None, (x.strip() for x in item.split(","))):
            name = raw.upper()
            if name != "ALL" and not name.startswith("CAP_"):
                name = "CAP_" + name
            if name != "ALL" and name not in CAP_NAMES:
                raise BadInput(f"{what}: unknown capability {raw!r} (e.g. NET_ADMIN, "
                               "SYS_PTRACE, ALL)")
            out.append(name)
    return out


def capabilities(add: list[str], drop: list[str]) -> tuple[str, ...]:
    """The set CMD keeps, by docker's rules (moby oci/caps TweakCapabilities): ALL in
    --cap-add is every capability but the dropped ones; ALL in --cap-drop keeps only
    the added ones; otherwise the defaults, plus the added, minus the dropped."""
    adds, drops = set(add), set(drop)
    if "ALL" in adds:
        kept = set(CAP_NAMES) - drops
    elif "ALL" in drops:
        kept = adds - {"ALL"}
    else:
        kept = (set(DEFAULT_CAPABILITIES) | adds) - drops
    return tuple(sorted(kept, key=CAP_NAMES.index))


def parse_security_opts(items: list[str]) -> str:
    """--security-opt as docker spells it (KEY=VALUE, or the older KEY:VALUE): only
    seccomp=unconfined is known. Returns the seccomp mode ("default", "unconfined")."""
    mode = "default"
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            key, sep, value = item.partition(":")
        if key == "seccomp" and value == "unconfined":
            mode = "unconfined"
        elif key == "seccomp":
            raise BadInput(f"--security-opt {item}: nsscope loads docker's default seccomp "
                           "profile, or none with seccomp=unconfined (no profile files)")
        else:
            raise BadInput(f"--security-opt {item}: nsscope knows only seccomp=unconfined")
    return mode


def check_name(name: str) -> str:
    if not is_name(name):
        raise BadInput(f"bad container name {name!r}: letters, digits, '_', '.', '-' "
                       "(starting with a letter or digit, at most 64)")
    if 12 <= len(name) <= 64 and _made_of(name, frozenset("0123456789abcdef")):
        raise BadInput(f"bad container name {name!r}: it looks like a container id")
    return name


def from_args(args) -> Spec:
    """The Spec an argparse namespace of ``nsscope run`` describes (BadInput if it cannot be)."""
    command = list(args.cmd or [])
    if command and command[0] == "--":
        command = command[1:]
    rootfs_opts = [o for o in ("rootfs", "busybox", "image") if getattr(args, o)]
    if len(rootfs_opts) > 1:
        raise BadInput("give one of --rootfs, --busybox, --image")
    kind = rootfs_opts[0] if rootfs_opts else "host"
    if kind == "rootfs":
        kind = "dir"
    rootfs = image = None
    if kind == "dir":
        rootfs = os.path.abspath(args.rootfs)
        if not os.path.isdir(rootfs):
            raise BadInput(f"--rootfs: no such directory: {args.rootfs}")
        if os.path.realpath(rootfs) == "/":
            raise BadInput("--rootfs: the host's / cannot be a container root (omit --rootfs "
                           "to run on the host's root in a private mount namespace)")
    elif kind == "image":
        image = os.path.abspath(args.image)
        if not os.path.isfile(image):
            raise BadInput(f"--image: no such file: {args.image}")
    for path in filter(None, (rootfs,)):
        if any(c in path for c in ",:\\"):
            raise BadInput(f"--rootfs: overlayfs cannot take a path with ',', ':' or '\\': "
                           f"{path!r}")
    if not command:
        if kind == "host":
            raise BadInput("no command given (nsscope run [options] [--] CMD...)")
        command = ["/bin/sh"]

    shared = parse_share(args.share or [])
    if args.net == "host":
        shared.add("net")
    namespaces = set(DEFAULT_NAMESPACES) - shared
    if args.net == "bridge" and "net" not in namespaces:
        raise BadInput("--net bridge needs a new net namespace (drop --share net)")
    if args.userns or args.map_users or args.map_groups:
        namespaces.add("user")
    if args.time or args.monotonic is not None or args.boottime is not None:
        namespaces.add("time")
    if "mnt" not in namespaces and (kind != "host" or args.volume):
        raise BadInput("--share mnt runs in the host's mount namespace: no --rootfs, "
                       "--busybox, --image or -v with it")

    uid_map: tuple[tuple[int, int, int], ...] = ()
    gid_map: tuple[tuple[int, int, int], ...] = ()
    if "user" in namespaces:
        # like unshare --map-root-user: root inside is the caller outside
        uid_map = parse_map(args.map_users or [], "--map-users") or ((0, os.getuid(), 1),)
        gid_map = parse_map(args.map_groups or [], "--map-groups") or ((0, os.getgid(), 1),)

    hostname = args.hostname
    if hostname is not None:
        if "uts" not in namespaces:
            raise BadInput("--hostname needs a new uts namespace (drop --share uts)")
        if not is_hostname(hostname):
            raise BadInput(f"bad hostname {hostname!r}")

    if args.detach and (args.interactive or args.tty):
        raise BadInput("-d cannot be combined with -i or -t (there is no attach)")
    workdir = args.workdir or "/"
    if not workdir.startswith("/"):
        raise BadInput(f"-w: the directory must be absolute: {workdir!r}")
    if args.no_cow and kind in ("busybox", "image"):
        raise BadInput("--no-cow only with --rootfs (the busybox and image caches stay pristine)")

    cap_add = parse_capabilities(args.cap_add or [], "--cap-add")
    cap_drop = parse_capabilities(args.cap_drop or [], "--cap-drop")
    if args.privileged and (cap_add or cap_drop):
        raise BadInput("--privileged keeps every capability: no --cap-add or --cap-drop "
                       "with it (--cap-add ALL --cap-drop X keeps the other protections)")

    seccomp = "unconfined" if args.privileged else parse_security_opts(args.security_opt or [])
    if seccomp == "default":
        from nsscope.actions.run.seccomp_machine import NATIVE, NoFilter
        machine = os.uname().machine
        if machine not in NATIVE:
            raise NoFilter(f"nsscope has no seccomp filter for {machine} (only for "
                           f"{', '.join(sorted(NATIVE))}): it refuses to run a container "
                           "without one unless --security-opt seccomp=unconfined")

    cid = os.urandom(32).hex()
    name = check_name(args.name) if args.name else f"nsscope-{cid[:8]}"
    if hostname is None and "uts" in namespaces:
        hostname = cid[:12]
    limits = Limits(
        cpu_quota_us=parse_cpus(args.cpus, args.cpu),
        memory=parse_memory(args.memory) if args.memory else None,
        pids=parse_positive(args.pids, "--pids") if args.pids else None,
        cpuset=_check_cpuset(args.cpuset) if args.cpuset else None,
    )
    monotonic = _int_option(args.monotonic, "--monotonic")
    boottime = _int_option(args.boottime, "--boottime")
    return Spec(
        id=cid, name=name, command=tuple(command), namespaces=tuple(sorted(namespaces)),
        rootfs_kind=kind, rootfs=rootfs, image=image, cow=not args.no_cow, hostname=hostname,
        volumes=tuple(parse_volume(v) for v in args.volume or []),
        env=parse_env(args.env or []), workdir=os.path.normpath(workdir),
        user=parse_user(args.user) if args.user else None, uid_map=uid_map, gid_map=gid_map,
        monotonic_offset=monotonic, boottime_offset=boottime, limits=limits,
        init=args.init, tty=args.tty, interactive=args.interactive, detach=args.detach,
        remove=args.remove, net=args.net, privileged=args.privileged,
        capabilities=None if args.privileged else capabilities(cap_add, cap_drop),
        seccomp=seccomp,
    )


def _check_cpuset(text: str) -> str:
    text = text.strip()
    if not is_cpu_list(text):
        raise BadInput(f"--cpuset: expected a CPU list like 0 or 0-1,3, got {text!r}")
    return text


def _int_option(text: str | None, what: str) -> int:
    if text is None:
        return 0
    try:
        value = int(text, 10)
    except ValueError:
        raise BadInput(f"{what}: expected whole seconds, got {text!r}") from None
    if abs(value) > MAX_TIME_OFFSET:
        raise BadInput(f"{what}: at most ±{MAX_TIME_OFFSET} seconds (the kernel's limit), "
                       f"got {text!r}")
    import time
    clock = time.CLOCK_MONOTONIC if what == "--monotonic" else time.CLOCK_BOOTTIME
    if time.clock_gettime(clock) + value < 0:
        raise BadInput(f"{what}: {text} would set the clock before zero (time_namespaces(7))")
    return value


def container_env(spec: Spec) -> list[str]:
    """The environment CMD gets: a few defaults (like docker's), then -e."""
    env = {"PATH": DEFAULT_PATH, "HOME": "/root" if not spec.user or spec.user[0] == 0 else "/",
           "container": "nsscope"}
    if spec.hostname:
        env["HOSTNAME"] = spec.hostname
    if spec.tty:
        env["TERM"] = "xterm"
    for item in spec.env:
        k, _, v = item.partition("=")
        env[k] = v
    return [f"{k}={v}" for k, v in env.items()]

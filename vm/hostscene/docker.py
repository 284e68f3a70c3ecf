"""Inside the VM: docker containers as dockerd 20.10 (Debian's docker.io) with the
systemd cgroup driver lays them out, minus dockerd itself.

dockerd cannot run here as it would on a systemd host: its systemd cgroup
driver needs systemd on D-Bus (the VM's init is a shell script), and its
cgroupfs driver would put containers at /docker/<id>. So the scene does what
dockerd does, step by step, and lets the real runtime stack run the
containers:

- the image layer under /var/lib/docker/overlay2 (the loop-mounted ext4 image
  of images.py), an "-init" layer and the container's own layer, mounted as
  overlayfs at .../merged (moby daemon/graphdriver/overlay2/overlay.go: the
  l/ short links, lowerdir=l/<init>:l/<image>);
- /var/lib/docker/containers/<id>/: hostname, hosts, resolv.conf, a tmpfs at
  mounts/shm (moby container/container_unix.go, daemon/container_operations_unix.go),
  and config.v2.json / hostconfig.json (container/container.go toDisk: the
  Container struct as json.Encoder writes it);
- a network namespace pinned at /run/docker/netns/<sandbox> (libnetwork's
  sandbox key; this scene's containers have --network none: loopback only);
- the OCI spec dockerd builds (daemon/oci_linux.go: docker's default
  capabilities, masked and read-only paths, the binds above, the cgroup
  path), run by containerd in its "moby" namespace with runc's state under
  /run/docker/runtime-runc, as dockerd asks containerd to.

Not done: the seccomp and AppArmor profiles, the libnetwork prestart hook
(it calls back into dockerd), the json-file log (dockerd copies the
container's output itself; here the output goes to /dev/null). The cgroup
path is given as the path the systemd driver's "system.slice:docker:<id>"
becomes (runc's cgroupfs manager takes paths, not slice:prefix:name).
"""

from __future__ import annotations

import base64
import hashlib
import os
import time
from dataclasses import dataclass, field

from hostscene.runtime import ctr, hexid, log, mount, sh, task_pid, write, write_json

DOCKER = "/var/lib/docker"
OVERLAY = f"{DOCKER}/overlay2"
EXEC_ROOT = "/run/docker"
RUNC_ROOT = f"{EXEC_ROOT}/runtime-runc"
#: the image layer every scene container uses (the ext4 image of images.py)
IMAGE_LAYER = hexid("docker", "layer", "debian-bookworm")
PATH_ENV = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

#: moby oci/caps/defaults.go DefaultCapabilities
CAPS = ["CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD",
        "CAP_NET_RAW", "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP",
        "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE"]
#: moby oci/defaults.go DefaultLinuxSpec
MASKED = ["/proc/asound", "/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
          "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi",
          "/sys/firmware"]
READONLY = ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]


@dataclass
class DockerContainer:
    name: str
    image: str
    cmd: list[str]
    env: list[str] = field(default_factory=list)
    user: str = ""                    # as `docker run --user`: "uid:gid"
    workdir: str = ""
    nano_cpus: int = 0                # docker run --cpus 0.2 -> 200000000
    memory: int = 0                   # bytes
    pids_limit: int = 0
    stop_signal: str = ""
    exposed: tuple[str, ...] = ()
    id: str = ""                      # 64 hex, derived from the name unless given

    def __post_init__(self) -> None:
        self.id = self.id or hexid("docker", "container", self.name)

    @property
    def cgroup(self) -> str:
        # systemd driver: cgroupsPath "system.slice:docker:<id>" -> this scope
        # (moby daemon/oci_linux.go; runc libcontainer/cgroups/systemd ExpandSlice)
        return f"/system.slice/docker-{self.id}.scope"

    @property
    def short(self) -> str:
        return self.id[:12]


def _env(c: DockerContainer) -> list[str]:
    """The image's environment (PATH first) with the container's own on top."""
    if any(e.startswith("PATH=") for e in c.env):
        path = [e for e in c.env if e.startswith("PATH=")]
        return path + [e for e in c.env if not e.startswith("PATH=")]
    return [PATH_ENV, *c.env]


def _short_link(layer: str) -> str:
    # overlay2 names l/ links with 26 random [A-Z0-9]: a base32 of a hash here
    return base64.b32encode(hashlib.sha256(layer.encode()).digest()).decode()[:26]


def rfc3339(t: float) -> str:
    """time.Time as Go marshals it (RFC 3339 with nanoseconds, UTC)."""
    ns = int(t * 1e9) % 1_000_000_000
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{ns:09d}Z"


def prepare_image_layer(ext4_image: str) -> None:
    """The image's layer dir, its l/ link, and the layer content (ext4, read-only)."""
    layer = f"{OVERLAY}/{IMAGE_LAYER}"
    os.makedirs(f"{layer}/diff", exist_ok=True)
    os.makedirs(f"{OVERLAY}/l", exist_ok=True)
    short = _short_link(IMAGE_LAYER)
    write(f"{layer}/link", short)
    os.symlink(f"../{IMAGE_LAYER}/diff", f"{OVERLAY}/l/{short}")
    mount("-t", "ext4", "-o", "ro,loop", ext4_image, f"{layer}/diff")


def _layer_for(c: DockerContainer) -> tuple[str, str]:
    """The container's rw layer and its -init layer, mounted at <layer>/merged."""
    rw = hexid("docker", "rwlayer", c.name)
    init = f"{rw}-init"
    for layer in (init, rw):
        base = f"{OVERLAY}/{layer}"
        os.makedirs(f"{base}/diff", exist_ok=True)
        os.makedirs(f"{base}/work", exist_ok=True)
        short = _short_link(layer)
        write(f"{base}/link", short)
        os.symlink(f"../{layer}/diff", f"{OVERLAY}/l/{short}")
    # the init layer (moby daemon/initlayer/setup_unix.go)
    d = f"{OVERLAY}/{init}/diff"
    for sub in ("dev/pts", "dev/shm", "proc", "sys", "etc"):
        os.makedirs(f"{d}/{sub}", exist_ok=True)
    for f in (".dockerenv", "dev/console", "etc/hostname", "etc/hosts", "etc/resolv.conf"):
        open(f"{d}/{f}", "w").close()
    os.symlink("/proc/mounts", f"{d}/etc/mtab")
    img = _short_link(IMAGE_LAYER)
    write(f"{OVERLAY}/{init}/lower", f"l/{img}")
    write(f"{OVERLAY}/{rw}/lower", f"l/{_short_link(init)}:l/{img}")
    merged = f"{OVERLAY}/{rw}/merged"
    os.makedirs(merged, exist_ok=True)
    # overlay.go mounts with paths relative to the overlay2 dir when the
    # option string would exceed a page; these are short enough for absolute ones
    mount("-t", "overlay", "overlay", "-o",
          f"lowerdir={OVERLAY}/l/{_short_link(init)}:{OVERLAY}/l/{img},"
          f"upperdir={OVERLAY}/{rw}/diff,workdir={OVERLAY}/{rw}/work", merged)
    return rw, merged


def _netns(c: DockerContainer) -> str:
    """libnetwork's sandbox: a network namespace pinned at /run/docker/netns/<12 hex>."""
    sandbox = hexid("docker", "sandbox", c.name)[:12]
    path = f"{EXEC_ROOT}/netns/{sandbox}"
    os.makedirs(os.path.dirname(path), exist_ok=True)
    open(path, "w").close()
    # util-linux unshare --net=FILE: a new net namespace, bind-mounted on FILE
    sh("unshare", f"--net={path}", "ip", "link", "set", "lo", "up")
    return path


def _host_files(c: DockerContainer) -> str:
    root = f"{DOCKER}/containers/{c.id}"
    os.makedirs(f"{root}/mounts/shm", exist_ok=True)
    os.makedirs(f"{root}/checkpoints", exist_ok=True)
    write(f"{root}/hostname", c.short + "\n")
    # --network none: libnetwork writes only the loopback entries
    # (libnetwork/etchosts/etchosts.go defaultContent)
    write(f"{root}/hosts", "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"
          "fe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\n"
          "ff02::2\tip6-allrouters\n")
    try:
        with open("/etc/resolv.conf") as f:
            resolv = f.read()
    except OSError:
        resolv = ""
    write(f"{root}/resolv.conf", resolv)
    write(f"{root}/resolv.conf.hash", "sha256:" + hashlib.sha256(resolv.encode()).hexdigest())
    # the container's /dev/shm (moby daemon/container_operations_unix.go setupIpcDirs)
    mount("-t", "tmpfs", "-o", "rw,nosuid,nodev,noexec,relatime,size=65536k", "shm",
          f"{root}/mounts/shm")
    return root


def _spec(c: DockerContainer, merged: str, netns: str, root: str) -> dict[str, object]:
    uid, gid = (int(x) for x in c.user.split(":")) if c.user else (0, 0)
    resources: dict[str, object] = {
        "devices": [{"allow": False, "access": "rwm"}],
        "blockIO": {},
    }
    if c.memory:
        resources["memory"] = {"limit": c.memory, "swap": 2 * c.memory}
    if c.nano_cpus:
        # daemon/daemon_unix.go: NanoCPUs -> quota over a 100 ms period
        resources["cpu"] = {"quota": c.nano_cpus * 100000 // 10**9, "period": 100000}
    if c.pids_limit:
        resources["pids"] = {"limit": c.pids_limit}
    binds = [("/etc/resolv.conf", f"{root}/resolv.conf"), ("/etc/hostname", f"{root}/hostname"),
             ("/etc/hosts", f"{root}/hosts")]
    return {
        "ociVersion": "1.0.2-dev",
        "process": {
            "user": {"uid": uid, "gid": gid},
            "args": c.cmd,
            "env": [*_env(c)[:1], f"HOSTNAME={c.short}", *_env(c)[1:]],
            "cwd": c.workdir or "/",
            "capabilities": {"bounding": CAPS, "effective": CAPS, "permitted": CAPS},
            "oomScoreAdj": 0,
        },
        "root": {"path": merged},
        "hostname": c.short,
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc",
             "options": ["nosuid", "noexec", "nodev"]},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
             "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
            {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
             "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620",
                         "gid=5"]},
            {"destination": "/sys", "type": "sysfs", "source": "sysfs",
             "options": ["nosuid", "noexec", "nodev", "ro"]},
            {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
             "options": ["ro", "nosuid", "noexec", "nodev"]},
            {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
             "options": ["nosuid", "noexec", "nodev"]},
            *({"destination": dst, "type": "bind", "source": src,
               "options": ["rbind", "rprivate"]} for dst, src in binds),
            {"destination": "/dev/shm", "type": "bind", "source": f"{root}/mounts/shm",
             "options": ["rbind", "rprivate"]},
        ],
        "linux": {
            "resources": resources,
            "cgroupsPath": c.cgroup,
            "namespaces": [{"type": "mount"}, {"type": "network", "path": netns},
                           {"type": "uts"}, {"type": "pid"}, {"type": "ipc"},
                           {"type": "cgroup"}],
            "maskedPaths": MASKED,
            "readonlyPaths": READONLY,
        },
    }


def _config_v2(c: DockerContainer, created: float, started: float, pid: int,
               netns: str, root: str) -> dict[str, object]:
    """config.v2.json: moby's Container struct in field order (container/container.go)."""
    none_ep = {"IPAMConfig": None, "Links": None, "Aliases": None,
               "NetworkID": hexid("docker", "network", "none"),
               "EndpointID": hexid("docker", "endpoint", c.name), "Gateway": "", "IPAddress": "",
               "IPPrefixLen": 0, "IPv6Gateway": "", "GlobalIPv6Address": "",
               "GlobalIPv6PrefixLen": 0, "MacAddress": "", "DriverOpts": None,
               "IPAMOperational": False}
    config: dict[str, object] = {
        "Hostname": c.short, "Domainname": "", "User": c.user, "AttachStdin": False,
        "AttachStdout": False, "AttachStderr": False,
    }
    if c.exposed:
        config["ExposedPorts"] = {p: {} for p in c.exposed}
    config.update({"Tty": False, "OpenStdin": False, "StdinOnce": False,
                   "Env": _env(c), "Cmd": c.cmd, "Image": c.image, "Volumes": None,
                   "WorkingDir": c.workdir, "Entrypoint": None, "OnBuild": None, "Labels": {}})
    if c.stop_signal:
        config["StopSignal"] = c.stop_signal
    return {
        "StreamConfig": {},
        "State": {"Running": True, "Paused": False, "Restarting": False, "OOMKilled": False,
                  "RemovalInProgress": False, "Dead": False, "Pid": pid, "ExitCode": 0,
                  "Error": "", "StartedAt": rfc3339(started),
                  "FinishedAt": "0001-01-01T00:00:00Z", "Health": None},
        "ID": c.id,
        "Created": rfc3339(created),
        "Managed": False,
        "Path": c.cmd[0],
        "Args": c.cmd[1:],
        "Config": config,
        "Image": "sha256:" + hexid("docker", "image", c.image),
        "NetworkSettings": {
            "Bridge": "", "SandboxID": hexid("docker", "sandbox", c.name), "HairpinMode": False,
            "LinkLocalIPv6Address": "", "LinkLocalIPv6PrefixLen": 0,
            "Networks": {"none": none_ep}, "Service": None, "Ports": {}, "SandboxKey": netns,
            "SecondaryIPAddresses": None, "SecondaryIPv6Addresses": None,
            "IsAnonymousEndpoint": False, "HasSwarmEndpoint": False},
        "LogPath": f"{root}/{c.id}-json.log",
        "Name": "/" + c.name,
        "Driver": "overlay2",
        "OS": "linux",
        "MountLabel": "",
        "ProcessLabel": "",
        "RestartCount": 0,
        "HasBeenStartedBefore": True,
        "HasBeenManuallyStopped": False,
        "MountPoints": {},
        "SecretReferences": None,
        "ConfigReferences": None,
        "AppArmorProfile": "",
        "HostnamePath": f"{root}/hostname",
        "HostsPath": f"{root}/hosts",
        "ShmPath": f"{root}/mounts/shm",
        "ResolvConfPath": f"{root}/resolv.conf",
        "SeccompProfile": "",
        "NoNewPrivileges": False,
        "LocalLogCacheMeta": {"HaveNotifyEnabled": False},
    }


def _hostconfig(c: DockerContainer) -> dict[str, object]:
    """hostconfig.json: api/types/container HostConfig in field order (the parts a
    `docker run --network none [--cpus] [--memory] [--pids-limit]` sets)."""
    return {
        "Binds": None, "ContainerIDFile": "",
        "LogConfig": {"Type": "json-file", "Config": {}}, "NetworkMode": "none",
        "PortBindings": {}, "RestartPolicy": {"Name": "unless-stopped", "MaximumRetryCount": 0},
        "AutoRemove": False, "VolumeDriver": "", "VolumesFrom": None, "CapAdd": None,
        "CapDrop": None, "CgroupnsMode": "private", "Dns": [], "DnsOptions": [],
        "DnsSearch": [], "ExtraHosts": None, "GroupAdd": None, "IpcMode": "private",
        "Cgroup": "", "Links": None, "OomScoreAdj": 0, "PidMode": "", "Privileged": False,
        "PublishAllPorts": False, "ReadonlyRootfs": False, "SecurityOpt": None, "UTSMode": "",
        "UsernsMode": "", "ShmSize": 67108864, "ConsoleSize": [0, 0], "Isolation": "",
        "CpuShares": 0, "Memory": c.memory, "NanoCpus": c.nano_cpus, "CgroupParent": "",
        "BlkioWeight": 0, "BlkioWeightDevice": [], "BlkioDeviceReadBps": None,
        "BlkioDeviceWriteBps": None, "BlkioDeviceReadIOps": None, "BlkioDeviceWriteIOps": None,
        "CpuPeriod": 0, "CpuQuota": 0, "CpuRealtimePeriod": 0, "CpuRealtimeRuntime": 0,
        "CpusetCpus": "", "CpusetMems": "", "Devices": [], "DeviceCgroupRules": None,
        "DeviceRequests": None, "KernelMemory": 0, "KernelMemoryTCP": 0,
        "MemoryReservation": 0, "MemorySwap": 2 * c.memory if c.memory else 0,
        "MemorySwappiness": None, "OomKillDisable": None,
        "PidsLimit": c.pids_limit or None, "Ulimits": None, "CpuCount": 0, "CpuPercent": 0,
        "IOMaximumIOps": 0, "IOMaximumBandwidth": 0, "MaskedPaths": MASKED,
        "ReadonlyPaths": READONLY,
    }


def run(c: DockerContainer) -> int:
    """`docker run -d --name NAME --network none …`, done as dockerd does it. Returns the pid."""
    created = time.time()
    _, merged = _layer_for(c)
    root = _host_files(c)
    netns = _netns(c)
    write_json(f"{root}/hostconfig.json", _hostconfig(c), mode=0o644)
    spec_file = f"/dev/shm/spec-{c.id}.json"
    write_json(spec_file, _spec(c, merged, netns, root))
    # dockerd -> containerd: namespace "moby", runc state under <exec-root>/runtime-runc
    # (moby libcontainerd/remote, daemon/start.go getLibcontainerdCreateOptions)
    ctr("moby", "run", "-d", "--null-io", "--runc-root", RUNC_ROOT, "--config", spec_file, c.id)
    os.remove(spec_file)
    pid = task_pid("moby", c.id)
    write_json(f"{root}/config.v2.json",
               _config_v2(c, created, time.time(), pid, netns, root), mode=0o600)
    log(f"docker {c.name}: {c.short} pid {pid}")
    return pid

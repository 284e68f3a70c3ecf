"""The container's network: ``lo`` up, and for ``--net bridge`` a veth pair to ``nsscope0``.

``loopback_up`` runs in the container's PID 1 (in its new net namespace) with
two ioctls (netdevice(7)): no ``ip`` binary is needed inside the image. The
bridge side runs in the supervisor, in the caller's net namespace, with
iproute2: the bridge ``nsscope0`` (BRIDGE_ADDR/16) is created on first use, each
container gets a veth whose peer becomes its ``eth0`` with the next free
address and a default route via the bridge. No NAT and no ip_forward change:
containers reach each other and the host's bridge address, nothing beyond.
The veth dies with the container's net namespace (the kernel deletes both
ends), so nothing is left when it ends, crash or not; the supervisor deletes
it itself at the end, since the kernel does so asynchronously.
"""

from __future__ import annotations

import os
import sys

from nsscope.kernel import syscalls

BRIDGE = "nsscope0"
#: the bridge's address and the containers' subnet (plain strings: the helper
#: imports this module for loopback_up and stays lean)
BRIDGE_ADDR = "10.201.0.1"
PREFIX_LEN = 16

# <linux/sockios.h>, <linux/if.h>, <sys/socket.h>
AF_INET = 2
SOCK_DGRAM = 2
SIOCGIFFLAGS = 0x8913
SIOCSIFFLAGS = 0x8914
IFF_UP = 0x1


def loopback_up() -> None:
    """``ip link set lo up`` in the current net namespace (a bare socket fd: the socket
    module would cost every run ~4 ms of imports)."""
    def ifreq(flags: int) -> bytes:
        # struct ifreq: char ifr_name[16]; short ifr_flags; padding to 40 bytes
        # (bytes by hand: struct would cost the run its import)
        return b"lo".ljust(16, b"\0") + flags.to_bytes(2, sys.byteorder) + bytes(22)
    fd = syscalls.socket_fd(AF_INET, SOCK_DGRAM)
    try:
        _, got = syscalls.ioctl(fd, SIOCGIFFLAGS, ifreq(0))
        syscalls.ioctl(fd, SIOCSIFFLAGS, ifreq(int.from_bytes(got[16:18], sys.byteorder)
                                               | IFF_UP))
    finally:
        os.close(fd)


def _ip(*args: str, stdin: str | None = None, netns_pid: int | None = None) -> None:
    import subprocess
    cmd = ["ip", *args]
    if netns_pid is not None:
        cmd = ["nsenter", f"--net=/proc/{netns_pid}/ns/net", *cmd]
    r = subprocess.run(cmd, input=stdin, capture_output=True, text=True, check=False)
    if r.returncode != 0:
        from nsscope.errors import NsscopeError
        msg = "; ".join(r.stderr.strip().splitlines()) or "failed"
        raise NsscopeError(f"--net bridge: {' '.join(args[:3])}: {msg}")


def has_link(name: str) -> bool:
    """In the caller's net namespace (an ioctl on a socket of it; /sys/class/net shows
    the namespace of whoever mounted /sys, which is not ours after ``unshare -n``)."""
    import socket
    try:
        socket.if_nametoindex(name)
        return True
    except OSError:
        return False


def ensure_bridge() -> None:
    if has_link(BRIDGE):
        return
    _ip("-batch", "-", stdin=(f"link add {BRIDGE} type bridge\n"
                              f"addr add {BRIDGE_ADDR}/{PREFIX_LEN} dev {BRIDGE}\n"
                              f"link set {BRIDGE} up\n"))


def veth_name(cid: str) -> str:
    return f"nsv{cid[:12]}"  # IFNAMSIZ is 16 with the NUL


def connect(cid: str, pid: int, address: str) -> None:
    """A veth from the bridge into the net namespace of ``pid``, configured as eth0."""
    host = veth_name(cid)
    ensure_bridge()
    _ip("-batch", "-", stdin=(f"link add {host} type veth peer name eth0 netns {pid}\n"
                              f"link set {host} master {BRIDGE}\n"
                              f"link set {host} up\n"))
    _ip("-batch", "-", netns_pid=pid,
        stdin=(f"addr add {address}/{PREFIX_LEN} dev eth0\n"
               "link set eth0 up\n"
               f"route add default via {BRIDGE_ADDR}\n"))


def disconnect(cid: str) -> None:
    """Delete the container's veth pair now, if it still exists. The kernel deletes it
    with the net namespace, but asynchronously (cleanup_net runs from a workqueue,
    net/core/net_namespace.c): the end of a run must leave nothing behind at once."""
    if has_link(veth_name(cid)):
        import subprocess
        # gone in between is fine: the kernel was quicker
        subprocess.run(["ip", "link", "del", veth_name(cid)], capture_output=True, check=False)


def remove_bridge_if_unused(sys_class_net: str = "/sys/class/net") -> bool:
    """Delete ``nsscope0`` when no veth is attached to it any more (``nsscope gc``);
    True if it was deleted. The caller holds the run dir's net.lock, which every
    --net bridge run holds while it attaches."""
    if not has_link(BRIDGE):
        return False
    try:
        ports = os.listdir(os.path.join(sys_class_net, BRIDGE, "brif"))
    except FileNotFoundError:
        return False
    if ports:
        return False
    import subprocess
    r = subprocess.run(["ip", "link", "del", BRIDGE], capture_output=True, check=False)
    return r.returncode == 0


def pick_address(taken: set[str]) -> str:
    """The first address of the bridge's subnet after its own that no container holds."""
    import ipaddress
    subnet = ipaddress.ip_network(f"{BRIDGE_ADDR}/{PREFIX_LEN}", strict=False)
    for host in subnet.hosts():
        if str(host) != BRIDGE_ADDR and str(host) not in taken:
            return str(host)
    from nsscope.errors import NsscopeError
    raise NsscopeError(f"--net bridge: no free address left in {subnet}")

"""The one rtnetlink request nsscope makes: RTM_GETNSID, a network namespace's id.

A netns id is how the caller's network namespace refers to another one
(``ip netns set NAME ID``, or assigned by the kernel when a veth peer lives
there); lsns shows it as NETNSID. Request: struct rtgenmsg plus a NETNSA_FD
attribute holding an fd on the namespace; answer: RTM_NEWNSID with
NETNSA_NSID, -1 (NETNSA_NSID_NOT_ASSIGNED) when there is none.
<linux/rtnetlink.h>, <linux/net_namespace.h>, rtnetlink(7).
"""

from __future__ import annotations

import os
import socket
import struct

NETLINK_ROUTE = 0
RTM_NEWNSID = 88
RTM_GETNSID = 90
NLM_F_REQUEST = 0x1
NLMSG_ERROR = 0x2
NETNSA_NSID = 1
NETNSA_FD = 3
NETNSA_NSID_NOT_ASSIGNED = -1

_NLMSGHDR = struct.Struct("=IHHII")  # len, type, flags, seq, pid
_RTA = struct.Struct("=HH")  # len, type


class NetnsIds:
    """Answers netns-id questions over one netlink socket (open it once per snapshot)."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC,
                                  NETLINK_ROUTE)
        self.sock.settimeout(1.0)
        self.seq = 0

    def __enter__(self) -> NetnsIds:
        return self

    def __exit__(self, *exc: object) -> None:
        self.sock.close()

    def of_fd(self, fd: int) -> int | None:
        """The id of the network namespace behind ``fd``, None when not assigned."""
        self.seq += 1
        attr = _RTA.pack(8, NETNSA_FD) + struct.pack("=I", fd)
        body = struct.pack("=B3x", socket.AF_UNSPEC) + attr  # rtgenmsg, padded to 4
        msg = _NLMSGHDR.pack(_NLMSGHDR.size + len(body), RTM_GETNSID, NLM_F_REQUEST,
                             self.seq, 0) + body
        self.sock.send(msg)
        data = self.sock.recv(8192)
        length, mtype, _, _, _ = _NLMSGHDR.unpack_from(data, 0)
        if mtype == NLMSG_ERROR:
            err = struct.unpack_from("=i", data, _NLMSGHDR.size)[0]
            if err:
                raise OSError(-err, os.strerror(-err))
            return None
        if mtype != RTM_NEWNSID:
            return None
        off = _NLMSGHDR.size + 4
        while off + _RTA.size <= length:
            alen, atype = _RTA.unpack_from(data, off)
            if alen < _RTA.size:
                break
            if atype == NETNSA_NSID:
                nsid = struct.unpack_from("=i", data, off + _RTA.size)[0]
                return None if nsid == NETNSA_NSID_NOT_ASSIGNED else nsid
            off += (alen + 3) & ~3
        return None

    def of_path(self, path: str) -> int | None:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        try:
            return self.of_fd(fd)
        finally:
            os.close(fd)

"""``nsscope run [options] [--] CMD…``: a container built by hand (see nsscope.runtime)."""

from __future__ import annotations

import argparse
import os
import signal
import sys

from nsscope.errors import AccessDenied
from nsscope.runtime import spec as specs
from nsscope.runtime.supervisor import DEVNULL, Supervisor, start_detached


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.description = ("Run CMD in new namespaces (cgroup ipc mnt net pid uts by default) and "
                     "its own cgroup /nsscope/<id>. Without --init, CMD is PID 1 and, like "
                     "any pid-namespace init, ignores signals it has no handler for "
                     "(SIGTERM, SIGINT): stop then takes the timeout and a SIGKILL.")
    life = p.add_argument_group("lifecycle")
    life.add_argument("-d", "--detach", action="store_true",
                      help="run in the background (output goes to `nsscope logs`)")
    life.add_argument("-i", "--interactive", action="store_true", help="keep stdin attached")
    life.add_argument("-t", "--tty", action="store_true", help="give CMD a terminal")
    life.add_argument("--rm", dest="remove", action="store_true",
                      help="remove the container (state, upper layer) when it ends")
    life.add_argument("--name", help="a name to refer to it by (default nsscope-<id8>)")
    life.add_argument("--init", action="store_true",
                      help="a tiny PID 1 that forwards signals to CMD and reaps zombies")
    fs = p.add_argument_group("root filesystem (default: the host's / in a private mount "
                              "namespace with a fresh /proc)")
    fs.add_argument("--rootfs", metavar="DIR", help="a directory holding the container's /")
    fs.add_argument("--busybox", action="store_true",
                    help="a minimal root from the host's busybox-static, built once and cached")
    fs.add_argument("--image", metavar="TAR", help="a root filesystem tar, extracted once")
    fs.add_argument("--no-cow", action="store_true",
                    help="with --rootfs: write to DIR itself instead of an overlay layer")
    fs.add_argument("-v", "--volume", action="append", metavar="HOST:CTR[:ro]",
                    help="bind HOST at CTR (read-only with :ro)")
    fs.add_argument("-w", "--workdir", metavar="DIR", help="CMD's working directory")
    proc = p.add_argument_group("process")
    proc.add_argument("-e", "--env", action="append", metavar="K=V",
                      help="set a variable (the host's environment is never passed in)")
    proc.add_argument("-u", "--user", metavar="UID[:GID]", help="run CMD as this user")
    proc.add_argument("--hostname", help="the container's hostname (default: its short id)")
    ns = p.add_argument_group("namespaces")
    ns.add_argument("--share", action="append", metavar="TYPE,…",
                    help="keep the host's namespaces of these types (cgroup ipc mnt net pid uts)")
    ns.add_argument("--userns", action="store_true",
                    help="a user namespace, root inside = the caller outside (unshare -r)")
    ns.add_argument("--map-users", action="append", metavar="OUTER,INNER,COUNT",
                    help="map a range of uids (implies --userns)")
    ns.add_argument("--map-groups", action="append", metavar="OUTER,INNER,COUNT",
                    help="map a range of gids (implies --userns)")
    ns.add_argument("--time", action="store_true", help="a time namespace")
    ns.add_argument("--monotonic", metavar="SECS", help="CLOCK_MONOTONIC offset (implies --time)")
    ns.add_argument("--boottime", metavar="SECS", help="CLOCK_BOOTTIME offset (implies --time)")
    ns.add_argument("--net", choices=("none", "bridge", "host"), default="none",
                    help="none: only lo (default); bridge: eth0 on the nsscope0 bridge; "
                         "host: the host's network (= --share net)")
    lim = p.add_argument_group("limits (cgroup v1 or v2, set before CMD runs)")
    lim.add_argument("--cpus", help="CPUs, e.g. 0.5 (CFS quota per 100 ms period)")
    lim.add_argument("--cpu", metavar="PERCENT", help="the same as a percentage, e.g. 20%%")
    lim.add_argument("-m", "--memory", help="memory limit, e.g. 64M")
    lim.add_argument("--pids", help="most tasks at once (pids.max)")
    lim.add_argument("--cpuset", metavar="LIST", help="CPUs it may run on, e.g. 0 or 0-1")
    p.add_argument("cmd", nargs=argparse.REMAINDER, metavar="CMD",
                   help="the command and its arguments (default with a rootfs: /bin/sh)")


def run(args: argparse.Namespace) -> int:
    spec = specs.from_args(args)
    if os.geteuid() != 0:
        raise AccessDenied("nsscope run", "nsscope run needs root (it makes namespaces, "
                                          "cgroups and mounts)")
    sup = Supervisor(spec)
    sup.prepare()
    if spec.detach:
        start_detached(sup)
        print(spec.id)
        return 0
    master = None
    if spec.tty:
        master, slave = os.openpty()
        try:
            sup.start(stdin=slave, stdout=slave, stderr=slave)
        except BaseException:
            os.close(master)
            raise
        finally:
            os.close(slave)
    else:
        sup.start(stdin=None if spec.interactive else DEVNULL)
    # CMD runs: from here on the container is ours to clean up, whatever happens
    code: int | None = None
    try:
        code = sup.wait() if master is None else sup.wait_tty(master)
    finally:
        if master is not None:
            os.close(master)
        if sup.helper is not None:
            # interrupted while waiting: the container must not outlive us
            os.kill(sup.helper, signal.SIGKILL)
            os.waitpid(sup.helper, 0)
            sup.helper = None
        left = sup.finish(code)
        if left:
            sys.stderr.write(f"nsscope: could not remove {', '.join(left)}\n")
    return code if code is not None else 1

"""``nsscope serve``: the host's containers, cgroups and namespaces as Prometheus metrics."""

from __future__ import annotations

import argparse

from nsscope.host.collector import Roots
from nsscope.host.containers import StatePaths
from nsscope.kernel.abi import CGROUP_ROOT, PROC


def add_arguments(p: argparse.ArgumentParser) -> None:
    from nsscope.serve.http import DEFAULT_LISTEN

    p.add_argument("--listen", default=DEFAULT_LISTEN, metavar="HOST:PORT",
                   help=f"where to listen (default {DEFAULT_LISTEN}; :9848 for every "
                        "interface, [::1]:9848 for IPv6, port 0 for any free one)")
    # the global --proc/--cgroup-root, shown here too: in a pod the host's are mounted
    # elsewhere (SUPPRESS: given before the command, they are not reset here)
    p.add_argument("--proc", default=argparse.SUPPRESS, metavar="DIR",
                   help=f"the host's procfs (default {PROC}; in a pod: /host/proc)")
    p.add_argument("--cgroup-root", default=argparse.SUPPRESS, metavar="DIR",
                   help=f"the host's cgroupfs (default {CGROUP_ROOT}; in a pod: "
                        "/host/sys/fs/cgroup)")
    p.add_argument("--state-prefix", default="", metavar="DIR",
                   help="where the host's / is mounted, for the runtimes' state dirs "
                        "(DIR/var/lib/docker, DIR/run/containerd, DIR/var/log/pods, …)")


def run(args: argparse.Namespace) -> int:
    from nsscope.errors import BadInput
    from nsscope.serve import http
    from nsscope.serve.collector import registry_of
    from nsscope.serve.confine import confine
    from nsscope.serve.scrape import Scraper

    host, port = http.parse_listen(args.listen)
    prefix = args.state_prefix
    if prefix and not prefix.startswith("/"):
        raise BadInput(f"--state-prefix: {prefix!r} is not an absolute path")
    roots = Roots(proc=args.proc, cgroup=args.cgroup_root,
                  state=StatePaths().under(prefix) if prefix else StatePaths())
    # the host's cgroup namespace, and only the capabilities it reads with (confine.py)
    confine(args.proc)
    server = http.bind(host, port, registry_of(Scraper(roots)))
    return http.serve(server, ready=http.announce)

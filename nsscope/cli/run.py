"""``nsscope run [options] [--] CMD…``: a container built by hand (see nsscope.actions.run).

The options are declared once, in OPTIONS. ``add_arguments`` builds the
argparse parser from them (``--help``, and the errors: an unknown option, a
missing value); ``parse_fast`` reads a well-formed command line itself, and
cli.main takes that way first: argparse, with the ``re``, ``enum``, ``gettext``,
``locale`` and ``shutil`` it imports, is a third of an installed ``nsscope
run``'s start-up, timed against runc (bench/bench_run.py). Whatever
``parse_fast`` does not recognise (abbreviations, ``-h``, mistakes) it leaves to
argparse, and a test holds the two to the same result.
"""

from __future__ import annotations

import gc
import os
import sys

from nsscope.errors import AccessDenied
from nsscope.actions.run import spec as specs
from nsscope.actions.run.supervisor import DEVNULL, Supervisor, start_detached
from nsscope.kernel.syscalls import signals as signal  # _signal: no enum import (syscalls.py)
from nsscope.kernel.abi import CGROUP_ROOT, PROC

TYPE_CHECKING = False  # typing itself costs a run ~3 ms of imports
if TYPE_CHECKING:
    import argparse

DESCRIPTION = ("Run CMD in new namespaces (cgroup ipc mnt net pid uts by default) and its own "
               "cgroup /nsscope/<id>. Without --init, CMD is PID 1 and, like any pid-namespace "
               "init, ignores signals it has no handler for (SIGTERM, SIGINT): stop then "
               "takes the timeout and a SIGKILL.")
GROUPS = {
    "lifecycle": "lifecycle",
    "fs": "root filesystem (default: the host's / in a private mount namespace with a fresh "
          "/proc)",
    "process": "process",
    "ns": "namespaces",
    "privileges": "privileges (default: docker's 14 capabilities, no_new_privs, docker's "
                  "default seccomp profile, runc's device rules, masked /proc paths)",
    "limits": "limits (cgroup v1 or v2, set before CMD runs)",
}
#: (group, option strings, kind, dest, metavar, help). kind: "flag" (store_true),
#: "value", "append", or a tuple of choices (the first is the default); dest None:
#: argparse's (the first long option, dashes as underscores)
OPTIONS: tuple[tuple, ...] = (
    ("lifecycle", ("-d", "--detach"), "flag", None, None,
     "run in the background (output goes to `nsscope logs`)"),
    ("lifecycle", ("-i", "--interactive"), "flag", None, None, "keep stdin attached"),
    ("lifecycle", ("-t", "--tty"), "flag", None, None, "give CMD a terminal"),
    ("lifecycle", ("--rm",), "flag", "remove", None,
     "remove the container (state, upper layer) when it ends"),
    ("lifecycle", ("--name",), "value", None, None,
     "a name to refer to it by (default nsscope-<id8>)"),
    ("lifecycle", ("--init",), "flag", None, None,
     "a tiny PID 1 that forwards signals to CMD and reaps zombies"),
    ("fs", ("--rootfs",), "value", None, "DIR", "a directory holding the container's /"),
    ("fs", ("--busybox",), "flag", None, None,
     "a minimal root from the host's busybox-static, built once and cached"),
    ("fs", ("--image",), "value", None, "TAR", "a root filesystem tar, extracted once"),
    ("fs", ("--no-cow",), "flag", None, None,
     "with --rootfs: write to DIR itself instead of an overlay layer"),
    ("fs", ("-v", "--volume"), "append", None, "HOST:CTR[:ro]",
     "bind HOST at CTR (read-only with :ro)"),
    ("fs", ("-w", "--workdir"), "value", None, "DIR", "CMD's working directory"),
    ("process", ("-e", "--env"), "append", None, "K=V",
     "set a variable (the host's environment is never passed in)"),
    ("process", ("-u", "--user"), "value", None, "UID[:GID]", "run CMD as this user"),
    ("process", ("--hostname",), "value", None, None,
     "the container's hostname (default: its short id)"),
    ("ns", ("--share",), "append", None, "TYPE,…",
     "keep the host's namespaces of these types (cgroup ipc mnt net pid uts)"),
    ("ns", ("--userns",), "flag", None, None,
     "a user namespace, root inside = the caller outside (unshare -r)"),
    ("ns", ("--map-users",), "append", None, "OUTER,INNER,COUNT",
     "map a range of uids (implies --userns)"),
    ("ns", ("--map-groups",), "append", None, "OUTER,INNER,COUNT",
     "map a range of gids (implies --userns)"),
    ("ns", ("--time",), "flag", None, None, "a time namespace"),
    ("ns", ("--monotonic",), "value", None, "SECS", "CLOCK_MONOTONIC offset (implies --time)"),
    ("ns", ("--boottime",), "value", None, "SECS", "CLOCK_BOOTTIME offset (implies --time)"),
    ("ns", ("--net",), ("none", "bridge", "host"), None, None,
     "none: only lo (default); bridge: eth0 on the nsscope0 bridge; host: the host's "
     "network (= --share net)"),
    ("privileges", ("--privileged",), "flag", None, None,
     "keep every capability, no no_new_privs, no seccomp filter, no device rules, no "
     "masked paths, /sys writable"),
    ("privileges", ("--cap-add",), "append", None, "CAP",
     "keep this capability too (NET_ADMIN, SYS_PTRACE …; ALL)"),
    ("privileges", ("--cap-drop",), "append", None, "CAP",
     "drop this capability (CHOWN, NET_RAW …; ALL)"),
    ("privileges", ("--security-opt",), "append", None, "OPT",
     "seccomp=unconfined: no seccomp filter (the default is docker's profile, which "
     "--cap-add widens as docker's does)"),
    ("limits", ("--cpus",), "value", None, None,
     "CPUs, e.g. 0.5 (CFS quota per 100 ms period)"),
    ("limits", ("--cpu",), "value", None, "PERCENT", "the same as a percentage, e.g. 20%%"),
    ("limits", ("-m", "--memory"), "value", None, None, "memory limit, e.g. 64M"),
    ("limits", ("--pids",), "value", None, None, "most tasks at once (pids.max)"),
    ("limits", ("--cpuset",), "value", None, "LIST", "CPUs it may run on, e.g. 0 or 0-1"),
)
CMD_HELP = "the command and its arguments (default with a rootfs: /bin/sh)"


def _dest(flags: tuple[str, ...], dest: str | None) -> str:
    if dest:
        return dest
    long = next((f for f in flags if f.startswith("--")), flags[0])
    return long.lstrip("-").replace("-", "_")


def add_arguments(p: argparse.ArgumentParser) -> None:
    import argparse
    p.description = DESCRIPTION
    groups = {key: p.add_argument_group(title) for key, title in GROUPS.items()}
    for group, flags, kind, dest, metavar, helptext in OPTIONS:
        kw: dict = {"dest": _dest(flags, dest), "help": helptext}
        if kind == "flag":
            kw["action"] = "store_true"
        else:
            if metavar:
                kw["metavar"] = metavar
            if kind == "append":
                kw["action"] = "append"
            elif isinstance(kind, tuple):
                kw["choices"], kw["default"] = kind, kind[0]
        groups[group].add_argument(*flags, **kw)
    p.add_argument("cmd", nargs=argparse.REMAINDER, metavar="CMD", help=CMD_HELP)


def _looks_negative(text: str) -> bool:
    """argparse takes '-5' or '-.5' as a value, not an option (no option looks like one)."""
    body = text[1:]
    whole, dot, fraction = body.partition(".")
    digits = whole + fraction
    return bool(digits) and digits.isascii() and digits.isdigit() and (not dot or bool(fraction))


class Args:
    """The parsed command line, as ``run`` reads it (argparse.Namespace's duck)."""

    def __init__(self, **values) -> None:
        self.__dict__.update(values)


def parse_fast(argv: list[str]) -> Args | None:
    """The arguments after ``run`` as argparse would parse them, or None for anything
    beyond the plain forms (``--opt value``, ``--opt=value``, ``-it``, ``-vX``,
    ``-v X``, then CMD): argparse then decides, and explains."""
    table = {flag: (_dest(flags, dest), kind) for _, flags, kind, dest, _, _ in OPTIONS
             for flag in flags}
    values: dict = {"command": "run", "proc": os.environ.get("NSSCOPE_PROC", PROC),
                    "cgroup_root": os.environ.get("NSSCOPE_CGROUP_ROOT", CGROUP_ROOT)}
    for dest, kind in table.values():
        values[dest] = False if kind == "flag" else kind[0] if isinstance(kind, tuple) else None

    def operand(at: int) -> str | None:
        """The word at ``at`` as an option's value; None past the end or where
        argparse would see an option there (a negative number is a value)."""
        if at == len(argv) or (argv[at].startswith("-") and not _looks_negative(argv[at])):
            return None
        return argv[at]

    def store(dest: str, kind, value: str) -> bool:
        if isinstance(kind, tuple) and value not in kind:
            return False
        if kind == "append":
            values[dest] = (values[dest] or []) + [value]
        else:
            values[dest] = value
        return True

    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg == "--" or not arg.startswith("-") or arg == "-":
            break  # CMD: the rest, as argparse.REMAINDER keeps it
        if arg.startswith("--"):
            name, eq, value = arg.partition("=")
            if name not in table:
                return None  # --help, an abbreviation, a mistake
            dest, kind = table[name]
            if kind == "flag":
                if eq:
                    return None
                values[dest] = True
            else:
                if not eq:
                    i += 1
                    if (taken := operand(i)) is None:
                        return None
                    value = taken
                if not store(dest, kind, value):
                    return None
            i += 1
            continue
        if "=" in arg:
            return None  # -e=K=V and the like: argparse's own rules
        for j in range(1, len(arg)):  # -it, -dit, -vHOST:CTR, -v HOST:CTR
            entry = table.get("-" + arg[j])
            if entry is None:
                return None
            dest, kind = entry
            if kind == "flag":
                values[dest] = True
                continue
            value = arg[j + 1:]
            if not value:
                i += 1
                if (taken := operand(i)) is None:
                    return None
                value = taken
            if not store(dest, kind, value):
                return None
            break
        i += 1
    values["cmd"] = argv[i:]
    return Args(**values)


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
    # CMD runs: from here on the container is ours to clean up, whatever happens.
    # The supervisor may live as long as it: the cyclic collector, off for the
    # start (cli.main), is back on (every object so far is frozen: fork_child)
    gc.enable()
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

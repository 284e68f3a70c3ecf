"""``nsscope enter TARGET [options] [-- CMD ARGS…]``: the command line of ``nsscope.actions.enter``.

Options are nsenter's (-m -u -i -n -p -C -U -T with long forms, -a, -r[DIR],
-w[DIR]) plus docker exec's (--user UID[:GID], --env, --privileged); they may
come before and after TARGET, and ``--`` or the first word after TARGET that is
not an option starts CMD, as with nsenter's getopt.
"""

from __future__ import annotations

import sys

from nsscope.actions.enter import (
    EXIT_CANNOT_ENTER,
    EXIT_CANNOT_EXECUTE,
    EXIT_NOT_FOUND,
    CannotEnter,
    Request,
    enter,
)
from nsscope.errors import NsscopeError
from nsscope.kernel.abi import PROC
from nsscope.host.targets import resolve

# argparse and collections are not imported on the fast path (cli.main calls
# run() directly)
TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse
    from collections.abc import Sequence

#: -m -u -i -n -p -C -U -T and their long forms, as nsenter spells them
SHORT_TYPES = {"m": "mnt", "u": "uts", "i": "ipc", "n": "net", "p": "pid", "C": "cgroup",
               "U": "user", "T": "time"}
LONG_TYPES = {"mount": "mnt", "uts": "uts", "ipc": "ipc", "net": "net", "pid": "pid",
              "cgroup": "cgroup", "user": "user", "time": "time"}


HELP = """\
usage: nsscope enter TARGET [options] [-- CMD ARGS...]

Run CMD inside the namespaces of TARGET — a pid, or a container's name or id as
`nsscope ps` lists it; pid:PID[@START], id:ID, name:NAME or ns:INODE say which
without guessing (an ambiguous TARGET is refused, listing the candidates) — the
way the target itself runs: in its cgroups, as its user, with its capability
bounding set and no_new_privs, with a clean environment (PATH, TERM, HOME) and
no fd but 0-2. CMD defaults to the target's login shell when its root has it,
else /bin/sh.

With no type option: every namespace type that differs from the caller's (the
caller's own user namespace is skipped), plus the target's root and working
directory, like nsenter --all --root --wd.

namespace types (enter only these; the host filesystem stays unless -m):
  -m, --mount   -u, --uts     -i, --ipc     -n, --net
  -p, --pid     -C, --cgroup  -U, --user    -T, --time
  -a, --all     every type that differs from the caller's (the default)

options:
  -r, --root[=DIR]   chroot to the target's root, or to DIR (opened before entering)
  -w, --wd[=DIR]     chdir to the target's working directory, or to DIR (opened before)
  --user UID[:GID]   run as UID and GID (default: UID's group in the target's
                     /etc/passwd, else 0) instead of the target's ids; also
                     --user=UID[:GID]. Without a number, --user is -U.
  --env              the target's environment (/proc/PID/environ) instead of a clean one
  --privileged       keep the caller's credentials and capabilities, like nsenter
  --shell PATH       without CMD: run PATH if the target's root has it, else the
                     default shell (silently: the TUI passes your $SHELL)
  -h, --help         show this help
  -V, --version      print nsscope's version

On a terminal CMD runs as a job of its own in the foreground, and the terminal
(its foreground process group and modes) is taken back when CMD ends, however.

exit status: CMD's; 125 could not enter, 126 CMD not executable, 127 CMD not found
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    import argparse

    # the words of `nsscope enter --help` (its own), for the man page (nsscope.cli.share)
    parser.description = HELP.split("\n\n", 1)[1]
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    # argparse cannot say `TARGET [options] [-- CMD…]` with getopt's optional values
    # (-r[DIR], --root[=DIR]) and options after the target, so every word after
    # `enter` reaches run() as is: with no prefix character, argparse sees no option.
    parser.prefix_chars = "\0"
    parser.add_argument("argv", nargs=argparse.REMAINDER,
                        metavar="TARGET [options] [-- CMD ARGS...]")


def _ids(text: str) -> tuple[int, int | None] | None:
    """'UID' or 'UID:GID' (numbers) -> (uid, gid or None); None if not of that shape."""
    uid, sep, gid = text.partition(":")
    if not uid.isdigit() or (sep and not gid.isdigit()):
        return None
    return int(uid), int(gid) if sep else None


def _user_value_follows(argv: Sequence[str], i: int, have_target: bool) -> bool:
    """Whether ``--user`` at ``argv[i - 1]`` takes ``argv[i]`` as UID[:GID].

    ``--user`` alone is the user namespace (nsenter's -U), ``--user UID[:GID]`` the
    ids (docker exec's): a number after it is the ids, unless TARGET is still to
    come and that number is the only word left for it (``enter --user 42 -- sh``).
    """
    if i >= len(argv) or _ids(argv[i]) is None:
        return False
    if have_target:
        return True
    for word in argv[i + 1:]:
        if word == "--":
            break
        if not word.startswith("-") or word == "-":
            return True  # TARGET is further on
    return False


#: what parse_argv returns for --version
VERSION = "version"


def parse_argv(argv: Sequence[str]) -> Request | str | None:
    """The words after ``enter`` -> a Request; None when help was asked for, VERSION for
    --version.

    Like nsenter's getopt: options may come before and after TARGET; ``--`` or
    the first word after TARGET that is not an option starts CMD.
    """
    target: str | None = None
    cmd: list[str] = []
    types: set[str] = set()
    every = env = privileged = False
    root = wd = shell = None
    ids: tuple[int, int | None] | None = None
    i = 0
    while i < len(argv):
        word = argv[i]
        i += 1
        if word == "--":
            cmd = list(argv[i:])
            break
        if word.startswith("--"):
            name, eq, value = word[2:].partition("=")
            if name == "root":
                root = value  # --root alone: "", the target's
            elif name == "wd":
                wd = value
            elif name == "user" and eq:
                ids = _ids(value)
                if ids is None:
                    raise CannotEnter(f"enter: --user wants UID[:GID] (numbers), not {value!r}")
            elif name == "user" and _user_value_follows(argv, i, target is not None):
                ids = _ids(argv[i])
                i += 1
            elif name in LONG_TYPES and not eq:
                types.add(LONG_TYPES[name])
            elif name == "all" and not eq:
                every = True
            elif name == "env" and not eq:
                env = True
            elif name == "privileged" and not eq:
                privileged = True
            elif name == "shell":
                if not eq:
                    if i >= len(argv):
                        raise CannotEnter("enter: --shell wants a PATH")
                    value = argv[i]
                    i += 1
                if not value.startswith("/"):
                    raise CannotEnter(f"enter: --shell wants an absolute PATH, not {value!r}")
                shell = value
            elif name == "help" and not eq:
                return None
            elif name == "version" and not eq:
                return VERSION
            else:
                raise CannotEnter(f"enter: unknown option {word} (see nsscope enter --help)")
        elif word == "-V":
            return VERSION
        elif word.startswith("-") and len(word) > 1:
            for j, ch in enumerate(word[1:], start=2):
                if ch in SHORT_TYPES:
                    types.add(SHORT_TYPES[ch])
                elif ch == "a":
                    every = True
                elif ch == "r" or ch == "w":
                    # getopt's optional argument: only attached (-rDIR), the rest of the word
                    if ch == "r":
                        root = word[j:]
                    else:
                        wd = word[j:]
                    break
                elif ch == "h":
                    return None
                else:
                    raise CannotEnter(f"enter: unknown option -{ch} (see nsscope enter --help)")
        elif target is None:
            target = word
        else:
            cmd = list(argv[i - 1:])
            break
    if target is None:
        raise CannotEnter("enter: missing TARGET, a pid or a container name "
                          "(see nsscope enter --help)")
    return Request(target=target, cmd=tuple(cmd), types=frozenset() if every else frozenset(types),
                   root=root, wd=wd, uid=ids[0] if ids else None, gid=ids[1] if ids else None,
                   env=env, privileged=privileged, shell=shell)


def run(args: argparse.Namespace) -> int:
    try:
        request = parse_argv(args.argv)
        if request is None:
            sys.stdout.write(HELP)
            return 0
        if request == VERSION:
            from nsscope import __version__
            sys.stdout.write(f"nsscope {__version__}\n")
            return 0
        assert not isinstance(request, str)
        if getattr(args, "proc", PROC) != PROC:
            raise CannotEnter("enter acts on the live host, not on a captured /proc "
                              "(--proc, NSSCOPE_PROC)")
        return enter(resolve(request.target), request)
    except NsscopeError as e:
        # whatever kept us out (no such process, ambiguous name …) is docker's 125
        if e.exit_code not in (EXIT_CANNOT_EXECUTE, EXIT_NOT_FOUND):
            e.exit_code = EXIT_CANNOT_ENTER
        raise
    except OSError as e:
        where = f": {e.filename}" if e.filename else ""
        raise CannotEnter(f"cannot enter: {e.strerror or e}{where}") from None

"""The ``nsscope`` command line.

Each subcommand lives in its own module, imported only when used, so
``nsscope enter`` never pays for Textual or for the other commands. A module
provides ``add_arguments(parser)`` and ``run(args) -> int``.
"""

from __future__ import annotations

import os
import sys

from nsscope import __version__
from nsscope.errors import BadInput, NsscopeError
from nsscope.kernel.abi import CGROUP_ROOT, PROC

# argparse (with gettext and locale) is imported only when a parser is built:
# `nsscope enter` parses its own words and must start fast; collections.abc
# would import collections (~1.5 ms) for annotations alone
TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse
    from collections.abc import Sequence
    from typing import Any, NoReturn

#: subcommand -> (module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "ls": ("nsscope.cli.ls", "list namespaces (like lsns), processless ones too"),
    "tree": ("nsscope.cli.tree", "the user-namespace tree, or the cgroup tree (--cgroups)"),
    "show": ("nsscope.cli.show", "everything about one process"),
    "ps": ("nsscope.cli.ps", "list containers (any runtime) and sandboxes"),
    "throttle": ("nsscope.cli.throttle", "limit a process's or container's CPU; --reset undoes"),
    "top": ("nsscope.cli.top", "cgroups and containers by CPU throttling (usage, limit, PSI)"),
    "enter": ("nsscope.cli.enter", "run a command inside a process's or container's namespaces"),
    "run": ("nsscope.cli.run", "run a command in a new container (built by hand)"),
    "stop": ("nsscope.cli.stop", "stop nsscope containers (SIGTERM, then SIGKILL)"),
    "kill": ("nsscope.cli.kill", "send a signal to nsscope containers"),
    "rm": ("nsscope.cli.rm", "remove stopped nsscope containers (-f: running too)"),
    "logs": ("nsscope.cli.logs", "print what a detached nsscope container wrote"),
    "gc": ("nsscope.cli.gc", "remove what crashed nsscope runs left behind"),
    "serve": ("nsscope.cli.serve", "serve Prometheus metrics (cAdvisor's names, and nsscope's)"),
    "record": ("nsscope.cli.record", "record the host into a file, for every view's --from"),
}


def _module(name: str) -> Any:
    """The module ``name``, imported (importlib.import_module, without importing
    importlib and warnings: ~0.6 ms of `nsscope enter`)."""
    __import__(name)
    return sys.modules[name]


def _parser_class() -> type[argparse.ArgumentParser]:
    import argparse

    class _Parser(argparse.ArgumentParser):
        """argparse, but usage errors are one line (no usage dump) and exit 2, and no
        abbreviated long options: as in docker, ``--priv`` is not ``--privileged`` (a
        root tool must not guess), and a word such as ``--=`` after ``run``'s CMD is
        CMD's, not an ambiguous abbreviation of nsscope's own options (argparse
        classifies every word before it hands the rest to a subcommand)."""

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            kwargs.setdefault("allow_abbrev", False)
            super().__init__(*args, **kwargs)

        def error(self, message: str) -> None:  # type: ignore[override]
            sys.stderr.write(f"{self.prog}: {message}\n")
            raise SystemExit(2)

    return _Parser


#: global options that take a value (their value is not a command name)
_VALUED = ("--proc", "--cgroup-root", "--from", "--at")


def _command_for(argv: Sequence[str]) -> str | None:
    skip = False
    for a in argv:
        if skip:
            skip = False
            continue
        if a in _VALUED:
            skip = True
            continue
        if a in COMMANDS:
            return a
        if not a.startswith("-"):
            return None
    return None


#: the environment variables nsscope reads (``nsscope --help``, README, the man page)
ENVIRONMENT = """environment:
  NSSCOPE_PROC         default of --proc (the procfs root to read, e.g. a captured tree)
  NSSCOPE_CGROUP_ROOT  default of --cgroup-root (the cgroup mount root to read)
  NSSCOPE_DEBUG        when set, an unexpected OS error ends in a traceback instead of
                       one line on stderr
"""


def add_global_options(parser: argparse.ArgumentParser) -> None:
    """The options every command reads (before the command's name)."""
    parser.add_argument("-V", "--version", action="version", version=f"nsscope {__version__}")
    parser.add_argument("--proc", metavar="DIR", default=os.environ.get("NSSCOPE_PROC", PROC),
                        help=f"read processes from DIR instead of {PROC} (a captured tree; "
                             "env NSSCOPE_PROC); enter refuses it: it acts on the live host")
    parser.add_argument("--cgroup-root", metavar="DIR",
                        default=os.environ.get("NSSCOPE_CGROUP_ROOT", CGROUP_ROOT),
                        help=f"read cgroups from DIR instead of {CGROUP_ROOT} (a captured "
                             "tree; env NSSCOPE_CGROUP_ROOT)")


def build_parser(only: str | None = None, every: bool = False) -> argparse.ArgumentParser:
    """The parser of ``nsscope`` with ``only`` that command's arguments, or with ``every``
    command's (the man page and the shell completions: nsscope.cli.share)."""
    import argparse

    parser_class = _parser_class()
    parser = parser_class(prog="nsscope",
                     description="See a Linux host the way the kernel sees it: namespaces, "
                                 "cgroups, containers, throttling. With no command: the TUI.",
                     epilog=ENVIRONMENT, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_global_options(parser)
    # SUPPRESS: not in the namespace unless given, so that every command's arguments
    # (and the fast paths' stand-ins for them) stay what they were
    parser.add_argument("--from", dest="tui_from", metavar="FILE", default=argparse.SUPPRESS,
                        help="with no command: the TUI on a recording (nsscope record)")
    parser.add_argument("--at", dest="tui_at", metavar="TIME", default=argparse.SUPPRESS,
                        help="with --from: where the time cursor starts (default: the end)")
    # prog given, so argparse does not build a HelpFormatter (and import shutil,
    # with zlib, bz2 and lzma) just to name the subcommands' usage
    subs = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=parser_class,
                                 prog="nsscope")
    # When the command is known, only its parser is built and only its module
    # imported: each add_parser costs gettext look-ups on disk, and `nsscope
    # enter` is meant to start as fast as the interpreter allows. Without one
    # (`nsscope --help`, a typo) every command is listed, arguments unparsed.
    for name, (modname, helptext) in COMMANDS.items():
        if only is not None and name != only:
            continue
        sub = subs.add_parser(name, help=helptext, description=helptext)
        sub.add_argument("-V", "--version", action="version", version=f"nsscope {__version__}")
        if only == name or every:
            _module(modname).add_arguments(sub)
    return parser


def exit_now(code: int) -> NoReturn:
    """For ``enter`` and ``run``, whose work is over and recorded, and a read-only
    view that has printed: flush and leave without the interpreter's finalization,
    which frees every object of every module one by one (~4 ms, a fifth of a whole
    ``nsscope enter``; ~6 ms of ``nsscope show``). Nothing of nsscope registers
    atexit work. Only the command line calls this; errors before this point take
    the normal way out."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except OSError:
            pass  # a reader that went away (`| head`): nothing more to say
    os._exit(code)


#: the read-only views whose well-formed command lines are read without argparse:
#: argparse (with re, gettext, locale and shutil) costs about as much start-up as
#: the whole of `nsscope ls` on a small host. Each module declares FAST_OPTIONS
#: (option -> (dest, "store" | "store_true" | "append" | "int" | "float"), or
#: (dest, "store", CHOICES)), FAST_POSITIONALS and optionally FAST_DEFAULTS (dests
#: its FAST_OPTIONS do not name); tests/unit/cli/test_fast_parse.py holds them to
#: argparse's answers.
FAST_VIEWS = ("ls", "ps", "show", "tree", "top")
#: the views that read a recording (--from FILE --at TIME; nsscope/cli/replay.py)
RECORDED_VIEWS = ("ls", "ps", "show", "tree", "top")


class FastArgs:
    """The attributes argparse's Namespace would hold, for a command line read by
    ``parse_simple``."""

    def __init__(self, values: dict[str, Any]) -> None:
        self.__dict__.update(values)


def parse_simple(command: str, words: Sequence[str], options: dict[str, tuple[Any, ...]],
                 positionals: Sequence[str] = (), defaults: dict[str, Any] | None = None,
                 ) -> FastArgs | None:
    """``nsscope COMMAND WORDS…`` as argparse would read it, for the plain forms only:
    options exactly as declared (``-t VALUE``, ``--type VALUE``, ``--type=VALUE``,
    ``-J``), each value not starting with "-", the positionals each once.
    Anything else (``-Jn``, ``--``, ``-h``, an unknown or misspelt option, a
    missing or extra word, a value its type or choices refuse) returns None:
    argparse reads it, and says what is wrong."""
    values: dict[str, Any] = {"proc": os.environ.get("NSSCOPE_PROC", PROC),
                              "cgroup_root": os.environ.get("NSSCOPE_CGROUP_ROOT", CGROUP_ROOT),
                              "command": command}
    for dest, action, *_ in options.values():
        values[dest] = False if action == "store_true" else None
    values.update(defaults or {})
    given: list[str] = []
    i = 0
    while i < len(words):
        word = words[i]
        i += 1
        if not word.startswith("-"):
            given.append(word)
            continue
        name, eq, inline = word.partition("=")
        spec = options.get(name) if eq and name.startswith("--") else options.get(word)
        if spec is None:
            return None
        dest, action, *choices = spec
        if action == "store_true":
            if eq:
                return None
            values[dest] = True
            continue
        if eq:
            if not inline or inline.startswith("-"):  # argparse drops a "--" even there
                return None
            value = inline
        else:
            if i == len(words) or words[i].startswith("-"):
                return None
            value = words[i]
            i += 1
        if action == "append":
            values[dest] = [*(values[dest] or ()), value]
        elif action in ("int", "float"):
            # argparse's type=int / type=float: the same call on the same word
            try:
                values[dest] = int(value) if action == "int" else float(value)
            except ValueError:
                return None
        elif choices and value not in choices[0]:
            return None
        else:
            values[dest] = value
    if len(given) != len(positionals):
        return None
    values.update(zip(positionals, given, strict=True))
    return FastArgs(values)


class _EnterArgs:
    """What ``nsscope.cli.enter.run`` reads from parsed arguments."""

    def __init__(self, argv: list[str]) -> None:
        self.command = "enter"
        self.argv = argv
        self.proc = os.environ.get("NSSCOPE_PROC", PROC)


def main(argv: Sequence[str] | None = None) -> int:
    program = argv is None  # the console script (or python -m nsscope), not a caller
    argv = list(sys.argv[1:] if argv is None else argv)
    if "--at" in argv and _command_for(argv) in (None, *RECORDED_VIEWS):
        argv = _at_value(argv)
    try:
        if argv[:1] == ["enter"]:
            # enter parses its own words (nsenter's getopt) and is meant to start
            # as fast as the interpreter allows: argparse and its gettext look-ups
            # would be a quarter of its start-up, so it is skipped
            enter_view = _module(COMMANDS["enter"][0])
            exit_now(int(enter_view.run(_EnterArgs(argv[1:])) or 0))
        if argv[:1] == ["run"]:
            # run is timed against runc: a well-formed command line is read without
            # argparse (its imports are a third of the start-up); anything else,
            # --help and mistakes included, falls through to argparse. The cyclic
            # collector stays off until the container runs (cli/run.py turns it
            # back on): its passes over the objects the imports make found
            # nothing to free and cost ~0.5 ms of every run
            import gc
            gc.disable()
            run_command = _module(COMMANDS["run"][0])
            fast = run_command.parse_fast(argv[1:])
            if fast is not None:
                exit_now(int(run_command.run(fast) or 0))
        if argv[:1] and argv[0] in FAST_VIEWS:
            # a read-only view is meant to start about as fast as lsns: a
            # well-formed command line is read without argparse (see FAST_VIEWS)
            view = _module(COMMANDS[argv[0]][0])
            simple = parse_simple(argv[0], argv[1:], view.FAST_OPTIONS, view.FAST_POSITIONALS,
                                  getattr(view, "FAST_DEFAULTS", None))
            if simple is not None:
                if program and not getattr(simple, "watch", False):
                    # a one-shot view makes its snapshot and leaves (exit_now): the
                    # cycle collector would only walk the snapshot's objects again and
                    # again as they are made (a tenth of `ls --json` at 3,000 processes)
                    import gc
                    gc.disable()
                _announce(simple)
                code = int(view.run(simple) or 0)
                if program:
                    # printed and done: the interpreter's finalization would be a
                    # sixth of the whole view (see exit_now)
                    exit_now(code)
                return code
        args = build_parser(_command_for(argv)).parse_args(argv)
        if args.command is None:
            return _run_tui(args)
        module = _module(COMMANDS[args.command][0])
        _announce(args)
        code = int(module.run(args) or 0)
        if args.command in ("enter", "run"):
            exit_now(code)  # their work is over and recorded (see exit_now)
        return code
    except NsscopeError as e:
        # a message may quote a process name or a path: escaped (printable.py)
        from nsscope.printable import safe
        sys.stderr.write(f"nsscope: {safe(str(e))}\n")
        return e.exit_code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # `nsscope ls | head`: the reader went away; say nothing
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except OSError as e:
        if os.environ.get("NSSCOPE_DEBUG"):
            raise
        where = f": {e.filename}" if e.filename else ""
        sys.stderr.write(f"nsscope: {e.strerror or e}{where}\n")
        return 1


def _at_value(argv: list[str]) -> list[str]:
    """``--at -2h`` as ``--at=-2h``: argparse takes a word starting with "-" for an
    option, never an option's value (but ``-2``, a negative number)."""
    out: list[str] = []
    i = 0
    while i < len(argv):
        word = argv[i]
        if word == "--":
            return out + argv[i:]
        if word == "--at" and i + 1 < len(argv) and argv[i + 1][:2] in (
                *(f"-{d}" for d in "0123456789"),):
            out.append(f"--at={argv[i + 1]}")
            i += 2
            continue
        out.append(word)
        i += 1
    return out


def _announce(args: Any) -> None:
    """A view given --from/--at (a recording): checked, and the moment shown said."""
    if getattr(args, "from_file", None) is not None or getattr(args, "at", None) is not None:
        _module("nsscope.cli.replay").announce(args)


def _run_tui(args: argparse.Namespace) -> int:
    recording, at = getattr(args, "tui_from", None), getattr(args, "tui_at", None)
    if recording is not None:
        # the TUI on a recording (nsscope record), its time cursor at --at
        replay = _module("nsscope.tui.replay")
        return int(replay.run_replay(recording, at) or 0)
    if at is not None:
        raise BadInput("--at needs --from FILE (a recording)")
    tui = _module("nsscope.tui.app")  # a broken TUI import is a traceback, not a fallback
    return int(tui.run(args) or 0)

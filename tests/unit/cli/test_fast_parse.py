"""The read-only views' fast path (nsscope.cli.parse_simple) reads a command line
as argparse does, or leaves it to argparse.

The oracle is argparse itself, on the parser ``nsscope`` builds for that view.
"""
from __future__ import annotations

import os

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from nsscope.cli import FAST_VIEWS, build_parser, parse_simple

_VALUES = st.text(alphabet="abnet019,+-=_ ", min_size=0, max_size=5) | st.sampled_from(
    ["net", "uts,ipc", "+PATH", "NS,TYPE", "1", "-1", "-", "--", ""])
_WORDS = st.sampled_from(["-J", "--json", "-n", "-a", "--all", "--output-all", "-Jn", "-h",
                          "--cgroups", "--watch", "--throttled", "--sort", "--interval",
                          "--help", "--", "-", "--js", "--jso", "--proc", "--state-root",
                          "-x", "1", "42", "abc", "web", "--json=1", "-t=net", "-tnet",
                          "--type=", "--type=net", "-p1", "--task=7", "-o+PATH"])


@st.composite
def _command_lines(draw) -> tuple[str, list[str]]:
    """A view and words: its own options in every spelling, values of every shape,
    and words that are not its options (which must go to argparse)."""
    import importlib
    command = draw(st.sampled_from(FAST_VIEWS))
    view = importlib.import_module(f"nsscope.cli.{command}")
    words: list[str] = []
    for _ in range(draw(st.integers(0, 6))):
        kind = draw(st.sampled_from(["option", "option", "option", "word", "positional"]))
        if kind == "word":
            words.append(draw(_WORDS))
        elif kind == "positional":
            words.append(draw(st.sampled_from(["1", "42", "web", "-5", ""])))
        else:
            flag = draw(st.sampled_from(sorted(view.FAST_OPTIONS)))
            _, action, *choices = view.FAST_OPTIONS[flag]
            if action == "store_true":
                words.append(flag)
                continue
            value = draw(_VALUES | st.sampled_from([*(choices[0] if choices else ()),
                                                    "0.5", "2", "1e1", " 3 ", "x1"]))
            if flag.startswith("--") and draw(st.booleans()):
                words.append(f"{flag}={value}")
            else:
                words += [flag, value]
    return command, words


def _argparse(command: str, words: list[str]) -> dict | None:
    try:
        return vars(build_parser(command).parse_args([command, *words]))
    except SystemExit:
        return None


@settings(max_examples=500, deadline=None)
@given(_command_lines())
# every counterexample hypothesis ever found, kept as explicit examples
@example(("ls", ["-t", "net", "--type=uts", "-o", "+PATH", "-J", "-n", "--output-all"]))
@example(("show", ["-J", "42"]))
@example(("ps", ["-a", "--json"]))
@example(("ls", ["--type=", "net"]))
@example(("show", [""]))
@example(("ls", ["-p", ""]))
@example(("ls", ["--task=--", "--type", "uts"]))  # argparse drops "--" even after "="
@example(("ls", ["--type=--", "-o", ""]))
def test_fast_path_reads_as_argparse_reads(command_words):
    import importlib
    command, words = command_words
    view = importlib.import_module(f"nsscope.cli.{command}")
    fast = parse_simple(command, words, view.FAST_OPTIONS, view.FAST_POSITIONALS,
                        getattr(view, "FAST_DEFAULTS", None))
    if fast is None:
        return  # argparse reads it (and reports what is wrong): nothing to compare
    assert vars(fast) == _argparse(command, words), words


@pytest.mark.parametrize(("command", "words"), [
    ("ls", []), ("ls", ["-J"]), ("ls", ["-t", "net", "-t", "uts,ipc", "-p", "1", "-n"]),
    ("ls", ["--type=net", "--output=+PATH", "--output-all", "--noheadings", "--task=3"]),
    ("ps", []), ("ps", ["-a", "--json"]), ("ps", ["--all"]),
    ("show", ["1"]), ("show", ["-J", "web"]), ("show", ["web", "--json"]),
    ("tree", []), ("tree", ["--cgroups", "-J"]), ("tree", ["--all"]),
    ("top", []), ("top", ["--interval", "0"]), ("top", ["-J", "--interval=0.5"]),
    ("top", ["--watch", "--count", "3", "--sort", "cpu", "--throttled"]),
])
def test_the_common_forms_take_the_fast_path(command, words):
    import importlib
    view = importlib.import_module(f"nsscope.cli.{command}")
    fast = parse_simple(command, words, view.FAST_OPTIONS, view.FAST_POSITIONALS,
                        getattr(view, "FAST_DEFAULTS", None))
    assert fast is not None
    assert vars(fast) == _argparse(command, words)


@pytest.mark.parametrize(("command", "words"), [
    ("ls", ["-h"]), ("ls", ["--js"]), ("ls", ["-Jn"]), ("ls", ["--"]), ("ls", ["-t"]),
    ("ls", ["-t", "-J"]), ("ls", ["--json=1"]), ("ls", ["1"]), ("ps", ["--state-root", "/x"]),
    ("show", []), ("show", ["1", "2"]), ("show", ["-5"]), ("show", ["--", "1"]),
    ("ls", ["--proc", "/x"]), ("top", ["--sort", "size"]), ("top", ["--interval", "x1"]),
    ("top", ["--count", "1.5"]), ("top", ["--interval", "-1"]), ("tree", ["1"]),
])
def test_what_the_fast_path_does_not_read_goes_to_argparse(command, words):
    import importlib
    view = importlib.import_module(f"nsscope.cli.{command}")
    assert parse_simple(command, words, view.FAST_OPTIONS, view.FAST_POSITIONALS,
                        getattr(view, "FAST_DEFAULTS", None)) is None


def test_the_roots_come_from_the_environment_as_in_argparse(monkeypatch):
    from nsscope.cli import ls
    monkeypatch.setenv("NSSCOPE_PROC", "/tmp/p")
    monkeypatch.setenv("NSSCOPE_CGROUP_ROOT", "/tmp/c")
    fast = parse_simple("ls", ["-J"], ls.FAST_OPTIONS)
    assert fast is not None and (fast.proc, fast.cgroup_root) == ("/tmp/p", "/tmp/c")
    assert vars(fast) == _argparse("ls", ["-J"])
    assert os.environ["NSSCOPE_PROC"] == "/tmp/p"

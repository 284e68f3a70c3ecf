"""``nsscope run``'s command line and spec: the fast parser held to argparse (property
tests), option values, names, sizes, state files; nothing here runs a container.
"""

from __future__ import annotations

import os
import re

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from nsscope.actions.run import state


def test_option_values_are_parsed_as_docker_and_unshare_spell_them():
    from nsscope.actions.run import spec
    from nsscope.errors import BadInput
    assert spec.parse_size("64M") == 64 << 20
    assert spec.parse_size("512k") == 512 << 10 and spec.parse_size("1g") == 1 << 30
    assert spec.parse_cpus("0.5", None) == 50000  # µs per 100 ms period
    assert spec.parse_cpus(None, "20%") == 20000
    assert spec.parse_cpus(None, None) is None
    # unshare's OUTER,INNER,COUNT becomes uid_map's "INNER OUTER COUNT"
    assert spec.parse_map(["100000,0,65536"], "--map-users") == ((0, 100000, 65536),)
    assert spec.parse_share(["net,ipc", "uts"]) == {"net", "ipc", "uts"}
    for bad in (lambda: spec.parse_size("lots"), lambda: spec.parse_cpus("0.5", "50%"),
                lambda: spec.parse_cpus("-1", None), lambda: spec.parse_map(["1,2"], "x"),
                lambda: spec.parse_user("root"), lambda: spec.check_name("a" * 64 + "b"),
                lambda: spec.check_name("0123456789ab")):
        with pytest.raises(BadInput):
            bad()


# the forms parse_fast reads itself; anything else goes to argparse
_VALUES = st.text(alphabet="abcxyz019:/=,.% _", min_size=1, max_size=6) | st.sampled_from(
    ["-5", "-0.5", "64M", "0.5"])

@st.composite
def _run_command_lines(draw) -> list[str]:
    from nsscope.cli.run import OPTIONS
    argv: list[str] = []
    for _, flags, kind, _, _, _ in draw(st.lists(st.sampled_from(OPTIONS), max_size=8)):
        short = [f for f in flags if not f.startswith("--")]
        flag = draw(st.sampled_from(flags))
        if kind == "flag":
            argv.append(flag)
            continue
        value = draw(st.sampled_from(kind) if isinstance(kind, tuple) else _VALUES)
        form = draw(st.sampled_from(["apart", "equals", "attached"]))
        if form == "equals" and flag.startswith("--"):
            argv.append(f"{flag}={value}")
        elif form == "attached" and short and "=" not in value:
            argv.append(short[0] + value)
        else:
            argv += [flag, value]
    if draw(st.booleans()):  # a cluster of short flags: -it, -dit
        argv.append("-" + "".join(draw(st.lists(st.sampled_from("dit"), min_size=2,
                                                max_size=3))))
    tail = draw(st.lists(st.text(alphabet="ab-=x ", min_size=1, max_size=4), max_size=3))
    lead = draw(st.sampled_from(["--", "sh", None]))
    return argv + ([lead] if lead else []) + (tail if lead else [])

@settings(max_examples=300, deadline=None)
@given(_run_command_lines())
# every counterexample hypothesis ever found, kept as explicit examples
@example(["sh", "--="])  # a word after CMD that argparse took for an ambiguous abbreviation
def test_run_options_parse_as_argparse_parses_them(argv):
    from nsscope.cli import build_parser
    from nsscope.cli.run import parse_fast
    fast = parse_fast(argv)
    assert fast is not None, argv  # these forms never need argparse
    assert vars(fast) == vars(build_parser("run").parse_args(["run", *argv]))


@pytest.mark.parametrize("argv", [
    ["--help"], ["-h"], ["--rm", "--bus", "true"], ["--net", "bogus", "true"], ["--name"],
    ["--name", "--rm", "true"], ["--rm", "-e=A=1", "true"], ["-x", "true"], ["--rm=1", "true"],
])
def test_what_parse_fast_does_not_read_goes_to_argparse(argv, capsys):
    from nsscope.cli import build_parser
    from nsscope.cli.run import parse_fast
    assert parse_fast(argv) is None
    # and argparse answers: help, a value after =, or a one-line error (an abbreviation
    # such as --bus for --busybox is refused, as docker refuses it)
    parser = build_parser("run")
    if argv[1:2] == ["-e=A=1"]:  # -e's value after =: argparse reads it
        assert parser.parse_args(["run", *argv]).env == ["A=1"]
        return
    with pytest.raises(SystemExit) as e:
        parser.parse_args(["run", *argv])
    out, err = capsys.readouterr()
    if "-h" in argv or "--help" in argv:
        assert e.value.code == 0 and "--privileged" in out
    else:
        assert e.value.code == 2 and len(err.strip().splitlines()) == 1, err


@pytest.mark.parametrize("text", ["abc", "a" * 64, "a" * 65, "-a", "a.b-c_d", "a b", "a\n",
                                  "é", "0", "", ".a", "A9"])
def test_name_and_hostname_checks_are_the_documented_patterns(text):
    from nsscope.actions.run import spec
    assert spec.is_name(text) == bool(re.fullmatch(r"[a-zA-Z0-9][a-zA-Z0-9_.-]{0,63}", text,
                                                   re.ASCII))
    assert spec.is_hostname(text) == bool(re.fullmatch(r"[a-zA-Z0-9][a-zA-Z0-9.-]{0,62}",
                                                       text, re.ASCII))
    assert spec.is_env_key(text) == bool(re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", text, re.ASCII))

@settings(max_examples=400, deadline=None)
@given(st.text(alphabet="0123456789.,- kmgtibKMGTIB\n", max_size=8))
def test_cpu_lists_and_sizes_are_read_as_the_documented_patterns(text):
    from nsscope.actions.run import spec
    from nsscope.errors import BadInput
    assert spec.is_cpu_list(text) == bool(re.fullmatch(r"\d+(-\d+)?(,\d+(-\d+)?)*", text,
                                                       re.ASCII))
    m = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?", text.strip(), re.ASCII | re.I)
    try:
        size = spec.parse_size(text)
    except BadInput:
        assert m is None or float(m.group(1)) * 1024 ** " kmgt".index(
            (m.group(2) or " ").lower()) < 1
    else:
        assert m is not None and size == int(float(m.group(1)) * 1024 ** " kmgt".index(
            (m.group(2) or " ").lower()))


def test_fork_refuses_a_threaded_process():
    """The helper and PID 1 are forks of the CLI: only safe single-threaded."""
    import threading

    from nsscope.actions.run import nsexec
    from nsscope.errors import NsscopeError
    assert nsexec.single_threaded() == (threading.active_count() == 1)
    stop = threading.Event()
    t = threading.Thread(target=stop.wait)
    t.start()
    try:
        assert not nsexec.single_threaded()
        with pytest.raises(NsscopeError, match="single-threaded"):
            nsexec.fork_child(lambda: 0)
    finally:
        stop.set()
        t.join()
    with pytest.raises(ChildProcessError):
        os.waitpid(-1, os.WNOHANG)  # and nothing was forked


def test_runtime_reads_the_hierarchies_as_nsscope_cgroups_does():
    from nsscope.actions.run.cgroup import hierarchies
    from nsscope.host import cgroups
    theirs = [(h.key, h.version, h.controllers, h.mountpoint, h.root)
              for h in cgroups.hierarchies()]
    assert [tuple(h) for h in hierarchies()] == theirs and theirs


def test_state_files_are_json():
    import json as json_module
    value = {"b": [1, 2.5, None, True, False, "q\"\\\n\x01é😀\udcff"], "a": {"z": [], "y": {}},
             "n": -0.0, "big": 2 ** 70, "t": (1, "x")}
    text = state.to_json(value)
    assert json_module.loads(text) == json_module.loads(json_module.dumps(value))
    with pytest.raises(ValueError):
        state.to_json({"x": float("nan")})

"""The man page and the shell completions (issue 15): generated from the parser
(nsscope/cli/share.py, argparse-manpage and shtab), committed under share/, and what
man(1) and a real bash make of them."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from nsscope.cli import COMMANDS
from nsscope.cli.share import FILES, generate

from support import REPO, need_tool

SHARE = REPO / "share"


@pytest.mark.parametrize("rel", sorted(FILES))
def test_committed_files_are_what_the_parser_generates(rel):
    """Not hand-edited, not stale: `make share` after a change to an option."""
    def body(text: str) -> list[str]:
        return [line for line in text.splitlines() if not line.startswith(".TH ")]  # the date
    assert body((SHARE / rel).read_text()) == body(generate(FILES[rel])), \
        f"share/{rel} is stale: run make share"


def test_man_renders_and_lists_every_command():
    need_tool("man")
    r = subprocess.run(["man", "--warnings", "-l", str(SHARE / "man/man1/nsscope.1")],
                       capture_output=True, text=True, timeout=60, check=False,
                       env=dict(os.environ, MANWIDTH="100", MANPAGER="cat", PAGER="cat"))
    assert r.returncode == 0, r.stderr
    assert r.stderr == "", r.stderr  # groff's warnings: none
    text = r.stdout
    for command in COMMANDS:
        assert f"COMMAND 'nsscope {command}'" in text, command
    for word in ("ENVIRONMENT", "NSSCOPE_PROC", "NSSCOPE_CGROUP_ROOT", "NSSCOPE_DEBUG",
                 "--cgroup-root DIR", "--no-trunc", "--sort"):
        assert word in text, word


def test_man_finds_the_installed_page_from_path():
    """make venv puts it in .venv/share/man: man(1) finds it from PATH (manpath(5))."""
    need_tool("man")
    bindir = os.path.dirname(sys.executable)
    r = subprocess.run(["man", "-w", "nsscope"], capture_output=True, text=True, timeout=60,
                       check=False, env={"PATH": f"{bindir}:/usr/bin:/bin"})
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == os.path.join(os.path.dirname(bindir),
                                            "share/man/man1/nsscope.1")


def _bash_complete(line: str) -> list[str]:
    """What bash's programmable completion offers for ``line`` (the cursor at its end):
    the completion sourced into a real bash, its function called as readline would."""
    script = (f'source {SHARE / "bash-completion/completions/nsscope"}\n'
              'complete -p nsscope >&2\n'
              'read -ra COMP_WORDS <<< "$LINE"; [[ $LINE == *" " ]] && COMP_WORDS+=("")\n'
              'COMP_CWORD=$(( ${#COMP_WORDS[@]} - 1 )); COMP_LINE=$LINE; '
              'COMP_POINT=${#LINE}\n'
              'func=$(complete -p nsscope | sed -E "s/.*-F ([^ ]+) .*/\\1/")\n'
              '"$func" nsscope "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"\n'
              'printf "%s\\n" "${COMPREPLY[@]}"\n')
    r = subprocess.run(["bash", "--norc", "--noprofile", "-c", script], capture_output=True,
                       text=True, timeout=60, check=False,
                       env={"LINE": line, "PATH": "/usr/bin:/bin"})
    assert r.returncode == 0, r.stderr
    assert r.stderr.startswith("complete ") and " -F " in r.stderr, r.stderr
    return [w.strip() for w in r.stdout.splitlines() if w.strip()]


def test_bash_completes_commands_and_options():
    need_tool("bash")
    assert _bash_complete("nsscope th") == ["throttle"]
    assert set(_bash_complete("nsscope t")) == {"throttle", "top", "tree"}
    assert "--no-trunc" in _bash_complete("nsscope ps --no")
    assert set(_bash_complete("nsscope top --sort ")) == {"throttled", "cpu", "mem", "name"}


ZSH_SCRIPT = r"""
zmodload zsh/zpty
zpty z zsh -f -i
zpty -w z "PS1='> '; fpath=($SITE \$fpath); PATH=$BIN:\$PATH; autoload -U compinit; \
compinit -u; print RE''ADY"
zpty -r z line '*READY*'
zpty -w -n z "$LINE"$'\t'
sleep 1
zpty -w -n z $'\x01print -r -- "<<" \x05 ">>"\n'
sleep 1
out=""
while zpty -r -t z chunk; do out+=$chunk; done
print -r -- "$out"
zpty -d z
"""


def _zsh_complete(line: str) -> str:
    """The command line after zsh's completion system completed it at the end (TAB
    in an interactive zsh on a pseudo-terminal, zsh/zpty): the generated
    share/zsh/site-functions/_nsscope on fpath, compinit as a user runs it."""
    r = subprocess.run(["zsh", "-f", "-c", ZSH_SCRIPT], capture_output=True, text=True,
                       timeout=60, check=False,
                       env={"LINE": line, "PATH": "/usr/bin:/bin", "TERM": "dumb",
                            "SITE": str(REPO / "share/zsh/site-functions"),
                            "BIN": str(Path(sys.executable).parent)})
    assert r.returncode == 0, r.stderr
    found = re.findall(r"<< (.*?) >>", r.stdout.replace("\r", ""))
    assert found, r.stdout
    return found[-1].strip()


def test_zsh_completes_commands_and_options():
    need_tool("zsh")
    assert _zsh_complete("nsscope th") == "nsscope throttle"
    assert _zsh_complete("nsscope ps --no-t") == "nsscope ps --no-trunc"

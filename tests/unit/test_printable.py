"""Terminal escape injection (issue 12, item 8): a process whose name, command line
and cgroup hold ESC ] 0 ; title BEL, CR, LF … must not reach the terminal raw
from any text output or TUI label; JSON stays as it is (json escapes them)."""

from __future__ import annotations

from nsscope.printable import safe


def test_safe_escapes_as_util_linux_does():
    assert safe("plain ascii, é ☃ [red]x") == "plain ascii, é ☃ [red]x"
    assert safe("a\x1b]0;t\x07b") == "a\\x1b]0;t\\x07b"
    assert safe("\r\n\t\x7f") == "\\x0d\\x0a\\x09\\x7f"
    assert safe("\x9b") == "\\xc2\\x9b"  # C1 CSI, one \xNN per UTF-8 byte
    assert safe("\u202e") == "\\xe2\\x80\\xae"  # bidi override
    assert safe("a\\x1b") == "a\\x5cx1b"  # a literal \x cannot pose as an escape
    assert safe(b"\xff".decode("utf-8", "surrogateescape")) == "\\xff"

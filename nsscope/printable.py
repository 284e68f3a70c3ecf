"""Untrusted text made safe for a terminal, as util-linux prints it.

Process names, command lines and cgroup names are chosen by whoever runs the
process or makes the cgroup: an ESC, BEL, CR or newline in them would reach the
terminal raw (retitle it with OSC 0, erase the screen, forge or hide a row). Like
util-linux's ``mbs_safe_encode`` (lib/mbsalign.c), every non-printable
character is written as ``\\xNN``, one per byte of its UTF-8 encoding: C0
controls with ESC, BEL, CR, LF and TAB, DEL, the C1 controls, the Unicode
format characters (bidi overrides …), undecodable bytes (kept as surrogate
escapes); and a backslash followed by ``x``, so an escape cannot be faked.
Printable UTF-8 stays as it is. JSON output does not use this: json.dumps
escapes control characters itself.
"""

from __future__ import annotations


def safe(text: str) -> str:
    """``text`` with every non-printable character as \\xNN (util-linux's style)."""
    if text.isprintable() and "\\x" not in text:
        return text
    out = []
    for i, ch in enumerate(text):
        if ch == "\\" and text[i + 1:i + 2] == "x":
            out.append("\\x5c")
        elif ch.isprintable():
            out.append(ch)
        elif "\udc80" <= ch <= "\udcff":  # an undecodable byte (surrogateescape)
            out.append(f"\\x{ord(ch) - 0xDC00:02x}")
        else:
            out.extend(f"\\x{b:02x}" for b in ch.encode("utf-8", "surrogatepass"))
    return "".join(out)

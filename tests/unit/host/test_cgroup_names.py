"""The cgroup path patterns, matched with string methods, agree with the regular
expressions they stand for.

The oracle is ``re`` itself, on the expressions each matcher's docstring gives
(nsscope.host.containers.cgroup_names, and the module as it was before it
dropped ``re``: ``_HEX64`` patterns with ``re.match``, whose ``$`` also matches
before a final newline).
"""
from __future__ import annotations

import re

from hypothesis import example, given, settings
from hypothesis import strategies as st

from nsscope.host.containers import cgroup_names as cn

HEX = "4f1c2a9e8b7d6c5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e"
_HEX64 = r"[0-9a-f]{64}"

#: the expressions, exactly as the module used them with re.match
ORACLES = {
    cn._docker: re.compile(rf"^docker-({_HEX64})\.scope$"),
    cn._containerd: re.compile(rf"^cri-containerd-({_HEX64})\.scope$"),
    cn._crio: re.compile(rf"^crio-({_HEX64})(?:\.scope)?$"),
    cn._podman: re.compile(rf"^libpod-({_HEX64})(?:\.scope)?$"),
    cn._lxc: re.compile(r"^lxc\.payload\.(.+)$"),
    cn._machined: re.compile(r"^machine-(.+)\.scope$"),
    cn._pod_cgroupfs: re.compile(r"^pod([0-9a-f-]{36})$"),
}
POD_SYSTEMD = re.compile(r"^kubepods(?:-(burstable|besteffort))?-pod([0-9a-f_]+)\.slice$")

_PIECES = ["docker-", "cri-containerd-", "crio-", "libpod-", "lxc.payload.", "machine-",
           "kubepods", "-burstable", "-besteffort", "-pod", "pod", ".scope", ".slice", "\n",
           "\\x2d", "\\x", "_", "-", ".", "a", "Z", HEX, HEX[:63], HEX[:36], HEX.upper(),
           "1b2c3d4e-5f6a-7b8c-9d0e-1f2a3b4c5d6e", "1b2c3d4e_5f6a_7b8c", " ", "é"]
# components built from the pieces the patterns look for, and arbitrary text
_COMPONENTS = st.lists(st.sampled_from(_PIECES), max_size=6).map("".join) | st.text(max_size=12)


def _group(rx: re.Pattern[str], text: str) -> str | None:
    m = rx.match(text)
    return m.group(1) if m else None


@settings(max_examples=1000, deadline=None)
@given(_COMPONENTS)
@example(f"docker-{HEX}.scope\n")  # `$` matches before a final newline
@example("lxc.payload.web\n")
@example("lxc.payload.\n")
@example("machine-.scope")
@example("machine-a\n.scope")
@example(f"crio-{HEX}")
@example(f"libpod-{HEX}.scope")
@example("kubepods-burstable-pod1b_2c.slice")
@example("kubepods-burstable-pod.slice")
@example("kubepods-pod1b.slice\n")
def test_each_matcher_agrees_with_its_expression(comp):
    for matcher, rx in ORACLES.items():
        assert matcher(comp) == _group(rx, comp), (matcher.__name__, comp)
    m = POD_SYSTEMD.match(comp)
    assert cn._pod_systemd(comp) == ((m.group(1), m.group(2)) if m else None), comp
    assert cn.is_hex(comp, 64) == bool(re.fullmatch(_HEX64, comp))
    assert cn.is_hex(comp, at_least=32) == bool(re.fullmatch(r"[0-9a-f]{32,}", comp))


@settings(max_examples=1000, deadline=None)
@given(st.lists(st.sampled_from(["\\x2d", "\\x41", "\\x", "\\xg1", "\\", "x", "2d", "a-b",
                                 "\\X41", "\\x4"]), max_size=6).map("".join))
def test_unit_unescaping_agrees_with_re_sub(name):
    expected = re.sub(r"\\x([0-9a-fA-F]{2})", lambda m: chr(int(m.group(1), 16)), name)
    assert cn._unescape_unit(name) == expected


def test_matching_a_path_needs_no_re():
    import subprocess
    import sys

    from support import REPO
    code = (f"import sys; sys.path.insert(0, {str(REPO)!r}); "
            "from nsscope.host.containers.cgroup_names import match_cgroup; "
            f"assert match_cgroup('/system.slice/docker-{HEX}.scope').key == '{HEX}'; "
            "print('re' in sys.modules)")
    out = subprocess.run([sys.executable, "-I", "-S", "-c", code], capture_output=True,
                         text=True, check=True)
    assert out.stdout.strip() == "False"

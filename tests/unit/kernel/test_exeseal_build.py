"""The exec helper's committed bytes are what its source builds, so they can never
drift from it: rebuilt here with this machine's Debian toolchain (gcc,
gcc-aarch64-linux-gnu: tests/peers), from the checkout and from a copy of the
source elsewhere (the build must not depend on its path), byte for byte."""

from __future__ import annotations

import shutil

import pytest

from nsscope.kernel import exeseal

from support import need_tool


@pytest.mark.parametrize("machine", sorted(exeseal.HELPERS))
def test_the_committed_helper_is_what_its_source_builds(machine, tmp_path):
    cc, _, objcopy = exeseal.COMPILERS[machine]
    need_tool(cc)
    need_tool(objcopy)
    committed = exeseal.helper_bytes(machine)
    assert exeseal.build(machine) == committed
    elsewhere = tmp_path / "some" / "other" / "dir"
    elsewhere.mkdir(parents=True)
    source = shutil.copy(exeseal.__file__.replace("exeseal.py", "exeseal.c"), elsewhere)
    assert exeseal.build(machine, str(source)) == committed
    # and it is the program it says: a static ELF for that machine, no build id
    assert committed[:4] == b"\x7fELF"
    assert int.from_bytes(committed[18:20], "little") == {"x86_64": 62, "aarch64": 183}[machine]
    assert b".note.gnu.build-id" not in committed and b"GCC:" not in committed


def test_every_machine_with_a_helper_has_a_compiler():
    assert set(exeseal.COMPILERS) == set(exeseal.HELPERS)

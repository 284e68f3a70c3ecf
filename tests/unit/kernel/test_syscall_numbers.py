"""kernel/syscall_numbers: the tables held to the kernel's UAPI headers they are made
from, and to libseccomp's own tables (an independent oracle: the library runc and
docker build their filters with)."""

from __future__ import annotations

import ctypes
import os

import pytest

from nsscope.kernel import syscall_numbers as sn

from support import need_tool
from support.bpf import SCMP_ARCH, libseccomp


@pytest.mark.parametrize("abi", sorted(sn.HEADERS))
def test_the_tables_are_the_headers_plus_the_later_calls(abi):
    need_tool("gcc")
    root, header, _ = sn.HEADERS[abi]
    if not os.path.exists(os.path.join(root, header)):
        need_tool(os.path.join(root, header))  # tests/peers installs the headers
    from_headers = sn.read_headers(abi)
    ours = sn.numbers(abi)
    base = sn.X32_SYSCALL_BIT if abi == "x32" else 0
    assert {n: ours[n] - base for n in from_headers} == from_headers
    later = set(ours) - set(from_headers)
    expected = set(sn.LATER) | (set(sn.LATER_X86_64) if abi in ("x86_64", "x32") else set())
    assert later == expected - ({"map_shadow_stack"} if abi == "x32" else set())
    assert all(ours[n] - base == sn.LATER.get(n, sn.LATER_X86_64.get(n)) for n in later)


@pytest.mark.parametrize("abi", sorted(SCMP_ARCH))
def test_every_number_libseccomp_knows_is_the_same(abi):
    need_tool("scmp_sys_resolver")  # the package `seccomp` (and with it libseccomp2)
    lib = libseccomp()
    assert lib is not None
    ours = sn.numbers(abi)
    arch = SCMP_ARCH[abi]
    theirs = {}
    for name in ours:
        nr = lib.seccomp_syscall_resolve_name_arch(arch, name.encode())
        if nr >= 0:
            theirs[name] = nr
    # libseccomp 2.5.4 (Debian 12) knows the calls up to Linux ~5.19
    assert len(theirs) > 0.9 * len(ours)
    assert {n: ours[n] for n in theirs} == theirs
    # and it knows no call under a name or number we lack
    base = sn.X32_SYSCALL_BIT if abi == "x32" else 0
    lib.seccomp_syscall_resolve_num_arch.restype = ctypes.c_void_p
    for nr in [*range(base, base + 600), *range(0xF0000, 0xF0008)]:
        p = lib.seccomp_syscall_resolve_num_arch(arch, nr)
        if p:
            name = ctypes.string_at(p).decode()
            assert ours.get(name) == nr, (name, nr)


def test_the_abis_of_each_machine():
    assert sn.ABIS["x86_64"] == ("x86_64", "x32", "i386")
    assert sn.ABIS["aarch64"] == ("aarch64", "arm")
    # the calls nsscope's filter decides on, where a mistake would matter most
    x86_64, i386, aarch64 = sn.numbers("x86_64"), sn.numbers("i386"), sn.numbers("aarch64")
    assert (x86_64["unshare"], x86_64["clone3"], x86_64["keyctl"]) == (272, 435, 250)
    assert (i386["socketcall"], i386["socket"], i386["clone"]) == (102, 359, 120)
    assert sn.numbers("x32")["rt_sigaction"] == sn.X32_SYSCALL_BIT | 512
    assert "fork" not in aarch64 and aarch64["clone"] == 220
    assert sn.numbers("arm")["set_tls"] == 0xF0005

"""actions/run/seccomp_profile: docker's default profile, as nsscope run loads it.

Oracles: moby's default.json itself (tests/fixtures/moby-seccomp-default.json,
moby/profiles seccomp v0.2.3 as vendored by moby/moby 35797366d7cd), and
libseccomp, the library runc builds docker's filter with: the same rules given
to it the way runc gives them must decide every system call number of every
ABI, with the arguments the rules test, as nsscope's program decides it.
"""

from __future__ import annotations

import json
import os

import pytest

from nsscope.actions.run import seccomp_filter as sf
from nsscope.actions.run import seccomp_machine as sm
from nsscope.actions.run import seccomp_profile as sp
from nsscope.actions.run import spec
from nsscope.errors import BadInput
from nsscope.kernel import seccomp
from nsscope.kernel import syscall_numbers as sn
from nsscope.kernel.syscalls import CAP_NAMES

from support import FIXTURES, need_tool
from support.bpf import decode, libseccomp, libseccomp_program, run

EPERM, ENOSYS = seccomp.errno_ret(1), seccomp.errno_ret(38)
ALLOW = seccomp.RET_ALLOW
DEFAULT = spec.DEFAULT_CAPABILITIES
RELEASE = "6.18.0"
#: capability sets whose rules differ: docker's defaults, none (no CAP_SYS_CHROOT:
#: no chroot), CAP_SYS_ADMIN (its rules and the excludes of clone and clone3), and
#: all (every includes.caps rule)
CAP_SETS = [DEFAULT, (), (*DEFAULT, "CAP_SYS_ADMIN"), CAP_NAMES]


def _source(module) -> str:
    with open(module.__file__) as f:
        return f.read()


def test_the_rules_are_mobys_default_json():
    with open(FIXTURES / "moby-seccomp-default.json") as f:
        profile = json.load(f)
    assert sp.BEGIN + sp.render(profile) + sp.END in _source(sp)
    # the archMap: the sub-architectures each machine's filter covers
    arch_map = {a["architecture"]: a["subArchitectures"] for a in profile["archMap"]}
    assert arch_map["SCMP_ARCH_X86_64"] == ["SCMP_ARCH_X86", "SCMP_ARCH_X32"]
    assert arch_map["SCMP_ARCH_AARCH64"] == ["SCMP_ARCH_ARM"]
    assert set(sn.ABIS["x86_64"]) == {"x86_64", "i386", "x32"}
    assert set(sn.ABIS["aarch64"]) == {"aarch64", "arm"}


def test_the_programs_built_ahead_are_what_the_rules_build():
    assert sp.PROGRAMS_BEGIN + sp.render_programs() + sp.PROGRAMS_END in _source(sf)
    assert sp.rule_caps(sp.RULES) == sf.RULE_CAPS
    for machine in sm.NATIVE:
        # and they are used for docker's capabilities, and only for them
        ahead = bytes.fromhex(sf.PROGRAMS[machine])
        assert sp.filter_program(DEFAULT, machine, RELEASE) == ahead
        assert sf.program_for(DEFAULT, machine, RELEASE) == ahead
        assert sf.program_for((*DEFAULT, "CAP_NET_ADMIN"), machine, RELEASE) == ahead
        built = sp.filter_program((*DEFAULT, "CAP_SYS_ADMIN"), machine, RELEASE)
        assert sf.program_for((*DEFAULT, "CAP_SYS_ADMIN"), machine, RELEASE) == built
        assert built != ahead
        assert sf.program_for(DEFAULT, machine, "4.7") != ahead  # ptrace: minKernel 4.8


def _args_for(name: str | None) -> list[tuple[int, ...]]:
    """The arguments worth trying for a call whose rules test them."""
    if name == "socket":
        return [(family,) for family in range(0, 48)]
    if name == "personality":
        return [(p,) for p in (0, 1, 6, 8, 0x20000, 0x20008, 0x400000, 0xFFFFFFFF)]
    if name == "clone":
        flags = (0x11, 0x1200011, 0x3D0F00, 0x10000011, 0x20000, 0x2000000, 0x4000000,
                 0x8000000, 0x20000000, 0x40000000, 0x80)
        return [(f, f) for f in flags]
    return [()]


@pytest.mark.parametrize("machine", sorted(sm.NATIVE))
@pytest.mark.parametrize("caps", CAP_SETS, ids=["docker", "none", "sys_admin", "all"])
def test_every_call_of_every_abi_is_decided_as_libseccomp_decides_it(machine, caps):
    """libseccomp (the host's, 2.5.4 on Debian 12) is given the rules as runc gives
    them; its program and nsscope's must agree on every number it knows, with the
    ENOSYS runc's patchbpf puts above the last number the rules name. Names newer
    than this libseccomp (cachestat …) are nsscope's own to resolve (syscall_numbers)."""
    need_tool("scmp_sys_resolver")
    lib = libseccomp()
    assert lib is not None
    rules = sp.selected(caps, machine, RELEASE)
    ours = decode(sp.filter_program(caps, machine, RELEASE))
    theirs = decode(libseccomp_program(lib, sn.ABIS[machine], rules, EPERM))
    checked = 0
    for abi in sn.ABIS[machine]:
        arch = sn.AUDIT_ARCH[abi]
        numbers = sn.numbers(abi)
        names = {nr: name for name, nr in numbers.items()}
        known = {n for n in numbers if lib.seccomp_syscall_resolve_name_arch(
            {"i386": 0x40000003, "x32": 0x4000003E}.get(abi, arch), n.encode()) >= 0}
        base = sn.X32_SYSCALL_BIT if abi == "x32" else 0
        named = [numbers[n] for rule in rules for n in rule[0] if n in numbers]
        last = max(named)  # runc's patchbpf: ENOSYS above it
        top = max(numbers[n] for n in known if numbers[n] - base < 0x10000)
        private = [nr for nr in numbers.values() if nr - base >= 0x10000]
        for nr in [*range(base, top + 1), *private, top + 1, last + 1]:
            name = names.get(nr)
            if name is not None and name not in known:
                continue
            for args in _args_for(name):
                want = ENOSYS if nr > last else run(theirs, nr, arch, args)
                assert run(ours, nr, arch, args) == want, (abi, nr, name, args)
                checked += 1
    assert checked > 900


@pytest.mark.parametrize("machine", sorted(sm.NATIVE))
def test_what_docker_denies_and_what_a_capability_gives_back(machine):
    def decision(caps, abi, name, *args, release=RELEASE):
        program = decode(sp.filter_program(caps, machine, release))
        return run(program, sn.numbers(abi)[name], sn.AUDIT_ARCH[abi], args)

    native = sn.ABIS[machine][0]
    for abi in sn.ABIS[machine]:
        for name in ("keyctl", "add_key", "request_key", "bpf", "perf_event_open", "unshare",
                     "mount", "umount2", "setns", "kexec_load", "init_module", "finit_module",
                     "open_by_handle_at", "userfaultfd", "reboot", "swapon", "acct",
                     "lookup_dcookie", "syslog"):
            if name in sn.numbers(abi):
                assert decision(DEFAULT, abi, name) == EPERM, (abi, name)
        for name in ("read", "openat", "execve", "exit_group", "wait4", "getpid"):
            assert decision(DEFAULT, abi, name) == ALLOW, (abi, name)
        assert decision(DEFAULT, abi, "clone3") == ENOSYS  # so that libc falls back to clone
        assert decision(DEFAULT, abi, "clone", 0x11) == ALLOW  # fork
        assert decision(DEFAULT, abi, "clone", 0x10000011) == EPERM  # CLONE_NEWUSER
        assert decision(DEFAULT, abi, "socket", 1) == ALLOW  # AF_UNIX
        assert decision(DEFAULT, abi, "socket", 40) == EPERM  # AF_VSOCK
        assert decision(DEFAULT, abi, "socket", 38) == EPERM  # AF_ALG
        assert decision(DEFAULT, abi, "personality", 0xFFFFFFFF) == ALLOW
        assert decision(DEFAULT, abi, "personality", 6) == EPERM
        assert decision(DEFAULT, abi, "ptrace") == ALLOW  # kernel >= 4.8
        assert decision(DEFAULT, abi, "ptrace", release="4.4") == EPERM
    sys_admin = (*DEFAULT, "CAP_SYS_ADMIN")
    for name in ("unshare", "mount", "setns", "bpf", "perf_event_open", "clone3"):
        assert decision(sys_admin, native, name) == ALLOW, name
    assert decision(sys_admin, native, "clone", 0x10000011) == ALLOW
    assert decision((*DEFAULT, "CAP_BPF"), native, "bpf") == ALLOW
    assert decision((*DEFAULT, "CAP_PERFMON"), native, "perf_event_open") == ALLOW
    assert decision((*DEFAULT, "CAP_SYS_MODULE"), native, "finit_module") == ALLOW
    assert decision(CAP_NAMES, native, "keyctl") == EPERM  # no capability gives keyctl back
    assert decision(CAP_NAMES, native, "kexec_load") == EPERM
    # an ABI the machine's kernel does not run is killed, not decided
    other = {"x86_64": sn.AUDIT_ARCH_AARCH64, "aarch64": sn.AUDIT_ARCH_X86_64}[machine]
    assert run(decode(sp.filter_program(DEFAULT, machine, RELEASE)), 0, other) == \
        seccomp.RET_KILL_PROCESS


def test_arguments_are_judged_on_the_32_bits_the_kernel_reads():
    """The kernel runs socket(AF_VSOCK | 1 << 32) as socket(AF_VSOCK): its family is an
    int. libseccomp's 64-bit test lets it through docker's "> 40" rule; nsscope's
    comparison of the low word refuses it, as it refuses socket(AF_VSOCK)."""
    need_tool("scmp_sys_resolver")
    lib = libseccomp()
    assert lib is not None
    rules = sp.selected(DEFAULT, "x86_64", RELEASE)
    theirs = libseccomp_program(lib, sn.ABIS["x86_64"], rules, EPERM)
    ours = sp.filter_program(DEFAULT, "x86_64", RELEASE)
    socket, arch = sn.numbers("x86_64")["socket"], sn.AUDIT_ARCH_X86_64
    assert run(theirs, socket, arch, (40 | 1 << 32,)) == ALLOW
    assert run(ours, socket, arch, (40 | 1 << 32,)) == EPERM
    assert run(ours, socket, arch, (40,)) == run(theirs, socket, arch, (40,)) == EPERM
    # the clone flags: lower_32_bits(clone_flags) (kernel/fork.c)
    clone = sn.numbers("x86_64")["clone"]
    assert run(ours, clone, arch, (0x11 | 1 << 40,)) == ALLOW


def test_an_argument_not_known_to_be_32_bits_is_refused(monkeypatch):
    rule = (("kexec_load",), "ALLOW", 0, ((2, "EQ", 1, 0),), {}, {})
    monkeypatch.setattr(sp, "RULES", (*sp.RULES, rule))
    with pytest.raises(ValueError, match="32 bits"):
        sp.tables(DEFAULT, "x86_64", RELEASE)


def test_a_machine_without_a_filter():
    with pytest.raises(sm.NoFilter, match="seccomp=unconfined"):
        sf.program_for(DEFAULT, "riscv64", RELEASE)


def _spec(*argv: str) -> spec.Spec:
    from nsscope.cli import build_parser
    return spec.from_args(build_parser("run").parse_args(["run", *argv, "--busybox", "true"]))


def test_security_opt_as_docker_spells_it(monkeypatch):
    assert _spec().seccomp == "default"
    assert _spec("--security-opt", "seccomp=unconfined").seccomp == "unconfined"
    assert _spec("--security-opt", "seccomp:unconfined").seccomp == "unconfined"
    assert _spec("--privileged").seccomp == "unconfined"  # as docker's --privileged
    for bad in ("seccomp=/tmp/profile.json", "apparmor=unconfined", "seccomp", "label=x"):
        with pytest.raises(BadInput, match="--security-opt"):
            _spec("--security-opt", bad)
    # a machine nsscope has no filter for: refused, unless unconfined is asked
    monkeypatch.setattr(os, "uname", lambda: os.uname_result(
        ("Linux", "h", "6.18.0", "#1", "riscv64")))
    with pytest.raises(sm.NoFilter, match=r"riscv64.*seccomp=unconfined"):
        _spec()
    assert _spec("--security-opt", "seccomp=unconfined").seccomp == "unconfined"

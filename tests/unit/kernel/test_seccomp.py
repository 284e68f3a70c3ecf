"""kernel/seccomp: policies compiled to classic BPF, run by an interpreter of the
kernel's BPF (support.bpf) over every number and argument that matters; the
kernel itself runs them in tests/system/kernel/test_seccomp.py."""

from __future__ import annotations

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from nsscope.kernel import seccomp
from nsscope.kernel.seccomp import RET_ALLOW, RET_KILL_PROCESS, ArgCheck, Compare, Table

from support.bpf import decode, run

EPERM, ENOSYS = seccomp.errno_ret(1), seccomp.errno_ret(38)
ARCH, OTHER = 0xC000003E, 0x40000003


def decide(ranges, nr: int):
    """The reference: the decision of the last range starting at or below nr."""
    return [d for start, d in ranges if start <= nr][-1]


def test_each_number_gets_its_ranges_decision_and_an_unknown_arch_is_killed():
    ranges = seccomp.ranges_of({0: RET_ALLOW, 5: RET_ALLOW, 6: RET_ALLOW, 300: ENOSYS}, EPERM)
    program = seccomp.program([Table(ARCH, tuple(ranges))])
    for nr in [*range(0, 310), 0xFFFFFFFF, 0x40000000]:
        assert run(program, nr, ARCH) == decide(ranges, nr), nr
    assert run(program, 0, OTHER) == RET_KILL_PROCESS
    assert run(program, 0, 0) == RET_KILL_PROCESS


def test_two_arches_each_in_their_own_block():
    a = Table(ARCH, ((0, EPERM), (10, RET_ALLOW), (11, EPERM)))
    b = Table(OTHER, ((0, RET_ALLOW), (10, EPERM), (11, RET_ALLOW)))
    program = seccomp.program([a, b])
    assert [run(program, n, ARCH) for n in (9, 10, 11)] == [EPERM, RET_ALLOW, EPERM]
    assert [run(program, n, OTHER) for n in (9, 10, 11)] == [RET_ALLOW, EPERM, RET_ALLOW]


@given(st.lists(st.integers(0, 2000), min_size=1, max_size=400, unique=True), st.randoms())
@example(list(range(0, 800, 2)), None)  # ~800 ranges: left subtrees past 255 instructions
@settings(deadline=None, max_examples=40)
def test_long_jumps_land_where_they_should(numbers, rnd):
    """Conditional jumps reach 255 instructions; a tree of hundreds of ranges (two
    arches of them, as on aarch64) needs JA trampolines at several levels."""
    actions = (RET_ALLOW, ENOSYS, seccomp.errno_ret(13))
    chosen = {n: actions[(n * 7 + (rnd.randrange(3) if rnd else 0)) % 3] for n in numbers}
    ranges = seccomp.ranges_of(chosen, EPERM)
    tables = [Table(arch, tuple(ranges)) for arch in (ARCH, OTHER)]
    program = decode(seccomp.program(tables))
    probes = {0, 2001, 0xFFFFFFFF, *numbers, *(n + 1 for n in numbers), *(n - 1 for n in numbers
                                                                            if n)}
    for arch in (ARCH, OTHER):
        for nr in probes:
            assert run(program, nr, arch) == decide(ranges, nr)


OPS = {"EQ": lambda a, v: a == v, "NE": lambda a, v: a != v, "LT": lambda a, v: a < v,
       "LE": lambda a, v: a <= v, "GT": lambda a, v: a > v, "GE": lambda a, v: a >= v}


@pytest.mark.parametrize("op", sorted(OPS))
def test_argument_comparisons_on_the_low_32_bits(op):
    check = ArgCheck(((Compare(0, op, 40),),), RET_ALLOW, EPERM)
    program = seccomp.program([Table(ARCH, ((0, EPERM), (41, check), (42, EPERM)))])
    for value in (0, 39, 40, 41, 0xFFFFFFFF):
        for high in (0, 1 << 32, 0xFFFFFFFF << 32):
            want = RET_ALLOW if OPS[op](value, 40) else EPERM
            assert run(program, 41, ARCH, (value | high,)) == want, (op, value, high)


def test_masked_equal_any_of_alternatives_and_each_argument():
    clone = ArgCheck(((Compare(0, "MASKED_EQ", 0, 0x7E020000),),
                      (Compare(1, "EQ", 7), Compare(2, "GE", 3))), RET_ALLOW, EPERM)
    program = seccomp.program([Table(ARCH, ((0, EPERM), (56, clone), (57, EPERM)))])
    assert run(program, 56, ARCH, (0x11,)) == RET_ALLOW
    assert run(program, 56, ARCH, (0x10000011,)) == EPERM  # CLONE_NEWUSER
    assert run(program, 56, ARCH, (0x10000011, 7, 3)) == RET_ALLOW  # the second alternative
    assert run(program, 56, ARCH, (0x10000011, 7, 2)) == EPERM
    assert run(program, 55, ARCH, (0x11,)) == EPERM


def test_ranges_must_cover_from_zero_in_order():
    with pytest.raises(ValueError, match="start at 0"):
        seccomp.program([Table(ARCH, ((5, EPERM),))])
    with pytest.raises(ValueError, match="order"):
        seccomp.program([Table(ARCH, ((0, EPERM), (9, RET_ALLOW), (3, EPERM)))])


def test_a_program_past_the_kernels_limit_is_refused():
    ranges = seccomp.ranges_of({n: RET_ALLOW for n in range(0, 20000, 2)}, EPERM)
    with pytest.raises(ValueError, match="4096"):
        seccomp.program([Table(ARCH, tuple(ranges))])

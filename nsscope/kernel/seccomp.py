"""Seccomp filters: a policy compiled to classic BPF.

The kernel runs a seccomp filter on every system call of the process and its
descendants: a classic BPF program over ``struct seccomp_data`` (nr, arch,
instruction_pointer, args[6]; <linux/seccomp.h>) that returns an action
(Documentation/userspace-api/seccomp_filter.rst). ``program`` builds one from
a policy that says, for each ``AUDIT_ARCH_*`` the kernel may report, what each
system call number gets:

- a ``Table``: ranges of numbers, each with a decision; numbers are compared
  unsigned, so x32's (bit 30 set, the bit libseccomp and runc's patchbpf test
  for) are just further up the same table as x86_64's;
- a decision: an action (``RET_ALLOW``, ``errno_ret(EPERM)`` …) or an
  ``ArgCheck``: alternatives of argument comparisons, any of which allows.

The program loads the arch, jumps to that arch's block, and finds the number's
range by binary search (a balanced tree of ``JGE``: about log2(ranges) jumps a
call, as libseccomp's binary-tree optimisation does); an arch the policy does
not name gets ``RET_KILL_PROCESS`` (a filter that forgets an ABI is bypassed
through it: ``int $0x80`` from x86_64 enters the i386 table). Conditional jumps
reach at most 255 instructions ahead; a longer one goes through a ``JA``.

Arguments are compared on their low 32 bits only (seccomp_data holds them as
u64, little-endian here). The policies here only compare arguments the kernel
itself truncates to 32 bits (an ``int`` domain, clone's lower_32_bits flags),
so the low word is exactly what the kernel acts on; a 64-bit comparison, as
libseccomp makes, would let garbage in the high word pass a "> 40" test while
the kernel sees the low word (the policy module lists the arguments allowed).

``syscalls.set_seccomp_filter`` installs a program; seccomp_profile.py makes
docker's default profile into a policy.
"""

from __future__ import annotations

import sys

from nsscope.records import Record

# <linux/seccomp.h> return values
RET_KILL_PROCESS = 0x80000000
RET_ERRNO = 0x00050000
RET_ALLOW = 0x7FFF0000

# <linux/bpf_common.h> and <linux/filter.h>: classic BPF opcodes
_LD_W_ABS = 0x00 | 0x00 | 0x20  # BPF_LD | BPF_W | BPF_ABS
_ALU_AND_K = 0x04 | 0x50 | 0x00  # BPF_ALU | BPF_AND | BPF_K
_JA = 0x05 | 0x00  # BPF_JMP | BPF_JA
_JEQ = 0x05 | 0x10  # BPF_JMP | BPF_JEQ | BPF_K
_JGT = 0x05 | 0x20
_JGE = 0x05 | 0x30
_RET_K = 0x06
#: the kernel's limit on a program's length (BPF_MAXINSNS)
MAX_INSNS = 4096
# offsets in struct seccomp_data
_NR, _ARCH, _ARGS = 0, 4, 16


def errno_ret(err: int) -> int:
    """The action that fails the call with ``err`` (SECCOMP_RET_ERRNO | errno)."""
    return RET_ERRNO | (err & 0xFFFF)


class Compare(Record):
    """``args[arg] & mask <op> value`` on the argument's low 32 bits; op is one of
    libseccomp's: EQ NE LT LE GT GE MASKED_EQ (mask used by MASKED_EQ only)."""

    arg: int
    op: str
    value: int
    mask: int = 0xFFFFFFFF


class ArgCheck(Record):
    """``allow`` if any alternative holds (each a conjunction of Compares), else ``other``."""

    alternatives: tuple[tuple[Compare, ...], ...]
    allow: int
    other: int


class Table(Record):
    """One arch's policy: ``ranges`` sorted by start, the first starting at 0, each
    (first number, decision) up to the next one's start (the last: up to 2**32);
    neighbours with the same decision are merged."""

    arch: int
    ranges: tuple[tuple[int, int | ArgCheck], ...]


def ranges_of(decisions: dict[int, int | ArgCheck], default: int | ArgCheck,
              start: int = 0) -> list[tuple[int, int | ArgCheck]]:
    """Ranges from ``start`` on: each number ``decisions`` names its decision, every
    other number ``default``. A caller puts another part after them (a range of
    its own, or another call to this from a further start)."""
    out: list[tuple[int, int | ArgCheck]] = [(start, default)]
    for nr in sorted(decisions):
        if nr < start:
            raise ValueError(f"system call {nr} is below {start}")
        if out[-1][0] == nr:
            out.pop()
        out += [(nr, decisions[nr]), (nr + 1, default)]
    return out


def _merged(ranges) -> list:
    out: list = []
    for start, decision in ranges:
        if out and out[-1][0] >= start:
            raise ValueError(f"ranges out of order at {start}")
        if not out or out[-1][1] != decision:
            out.append((start, decision))
    if not out or out[0][0] != 0:
        raise ValueError("the ranges must start at 0")
    return out


def _insn(code: int, k: int, jt: int = 0, jf: int = 0) -> tuple[int, int, int, int]:
    return (code, jt, jf, k & 0xFFFFFFFF)


def _leaf(decision: int | ArgCheck) -> list:
    if isinstance(decision, int):
        return [_insn(_RET_K, decision)]
    # each alternative's block, built backwards: a failed comparison jumps to the
    # next alternative (or to the final "other" return)
    tail: list = [_insn(_RET_K, decision.other)]
    for alternative in reversed(decision.alternatives):
        block: list = [_insn(_RET_K, decision.allow)]
        for c in reversed(alternative):
            skip = len(block)  # to the next alternative: past the rest of this block
            code, k, on_true_next = {
                "EQ": (_JEQ, c.value, True), "NE": (_JEQ, c.value, False),
                "LT": (_JGE, c.value, False), "LE": (_JGT, c.value, False),
                "GT": (_JGT, c.value, True), "GE": (_JGE, c.value, True),
                "MASKED_EQ": (_JEQ, c.value & c.mask, True)}[c.op]
            jump = _insn(code, k, 0, skip) if on_true_next else _insn(code, k, skip, 0)
            head = [_insn(_LD_W_ABS, _ARGS + 8 * c.arg)]
            if c.op == "MASKED_EQ":
                head.append(_insn(_ALU_AND_K, c.mask))
            block = [*head, jump, *block]
        if len(block) > 255:
            raise ValueError("an argument check too long for a conditional jump")
        tail = block + tail
    return tail


def _tree(ranges) -> list:
    """A block that returns the decision of the range holding the number in A."""
    if len(ranges) == 1:
        return _leaf(ranges[0][1])
    mid = len(ranges) // 2
    left, right = _tree(ranges[:mid]), _tree(ranges[mid:])
    if len(left) <= 255:
        return [_insn(_JGE, ranges[mid][0], len(left), 0), *left, *right]
    # too far for jt: false skips the JA into the left block, true takes it
    return [_insn(_JGE, ranges[mid][0], 0, 1), _insn(_JA, len(left)), *left, *right]


def program(tables: list[Table] | tuple[Table, ...], bad_arch: int = RET_KILL_PROCESS) -> bytes:
    """The filter for ``tables`` as the kernel takes it: struct sock_filter[]
    (u16 code, u8 jt, u8 jf, u32 k), in native byte order."""
    blocks = [[_insn(_LD_W_ABS, _NR), *_tree(_merged(t.ranges))] for t in tables]
    # dispatch: per arch "JEQ arch ? next : skip; JA block", then the bad-arch return
    out: list = [_insn(_LD_W_ABS, _ARCH)]
    dispatch = 2 * len(tables) + 1
    before = 0
    for i, t in enumerate(tables):
        # from the instruction after this JA to its block's first instruction
        to_block = (dispatch - 2 * i - 2) + before
        out += [_insn(_JEQ, t.arch, 0, 1), _insn(_JA, to_block)]
        before += len(blocks[i])
    out.append(_insn(_RET_K, bad_arch))
    for block in blocks:
        out += block
    if len(out) > MAX_INSNS:
        raise ValueError(f"seccomp filter of {len(out)} instructions (the kernel takes "
                         f"{MAX_INSNS})")
    # struct sock_filter {u16 code; u8 jt; u8 jf; u32 k;} as one little-endian u64
    # (the machines with a filter, x86_64 and aarch64, are little-endian)
    if sys.byteorder != "little":
        raise ValueError("seccomp filters are built for little-endian machines only")
    return b"".join((code | jt << 16 | jf << 24 | k << 32).to_bytes(8, "little")
                    for code, jt, jf, k in out)

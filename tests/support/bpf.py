"""Classic BPF as the kernel runs a seccomp filter, and libseccomp as runc drives it.

- ``run(program, nr, arch, args)``: what a filter returns for one call: an
  interpreter of classic BPF (the kernel's checked subset for seccomp,
  kernel/seccomp.c seccomp_check_filter: loads of seccomp_data words, the
  scratch memory, ALU and jumps on K and X, RET K/A), so that every (arch,
  number, argument) a program can meet is checked, not a few samples.
- ``libseccomp_program(...)``: the same profile built with libseccomp (the
  library runc uses, the host's libseccomp.so.2), as runc's
  libcontainer/seccomp/seccomp_linux.go InitSeccomp adds it: a filter with
  the default action, the sub-architectures added, each rule's name resolved
  in the native arch (a pseudo number where it has none) and added with its
  argument conditions; exported with seccomp_export_bpf.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import operator
import os
import sys

# <linux/filter.h> classes and fields
_CLASS = 0x07
_LD, _LDX, _ST, _STX, _ALU, _JMP, _RET, _MISC = range(8)


_ALU_OPS = {0x00: operator.add, 0x10: operator.sub, 0x20: operator.mul, 0x30: operator.floordiv,
            0x40: operator.or_, 0x50: operator.and_, 0x60: operator.lshift,
            0x70: operator.rshift, 0x90: operator.mod, 0xA0: operator.xor}


def decode(program: bytes) -> list[tuple[int, int, int, int]]:
    order = sys.byteorder
    return [(int.from_bytes(program[i:i + 2], order), program[i + 2], program[i + 3],
             int.from_bytes(program[i + 4:i + 8], order)) for i in range(0, len(program), 8)]


def run(program: bytes | list, nr: int, arch: int, args: tuple[int, ...] = (),
        ip: int = 0) -> int:
    """The filter's return value for a call (struct seccomp_data: nr, arch, ip, args)."""
    insns = decode(program) if isinstance(program, bytes) else program
    data = (nr & 0xFFFFFFFF).to_bytes(4, "little") + arch.to_bytes(4, "little") + \
        ip.to_bytes(8, "little") + b"".join(
            (args[i] if i < len(args) else 0).to_bytes(8, "little") for i in range(6))
    a = x = 0
    mem = [0] * 16
    pc = 0
    for _ in range(100_000):
        code, jt, jf, k = insns[pc]
        pc += 1
        cls = code & _CLASS
        if cls == _LD:
            mode = code & 0xE0
            if mode == 0x20:  # BPF_ABS, BPF_W
                a = int.from_bytes(data[k:k + 4], "little")
            elif mode == 0x00:  # BPF_IMM
                a = k
            elif mode == 0x60:  # BPF_MEM
                a = mem[k]
            elif mode == 0x80:  # BPF_LEN
                a = len(data)
            else:
                raise ValueError(f"ld mode {code:#x}")
        elif cls == _LDX:
            mode = code & 0xE0
            x = k if mode == 0x00 else mem[k] if mode == 0x60 else len(data)
        elif cls == _ST:
            mem[k] = a
        elif cls == _STX:
            mem[k] = x
        elif cls == _ALU:
            operand = x if code & 0x08 else k
            a = (-a if code & 0xF0 == 0x80 else _ALU_OPS[code & 0xF0](a, operand)) & 0xFFFFFFFF
        elif cls == _JMP:
            op = code & 0xF0
            if op == 0x00:  # BPF_JA
                pc += k
                continue
            operand = x if code & 0x08 else k
            hit = {0x10: a == operand, 0x20: a > operand, 0x30: a >= operand,
                   0x40: bool(a & operand)}[op]
            pc += jt if hit else jf
        elif cls == _RET:
            return a if code & 0x18 == 0x10 else k
        elif cls == _MISC:
            if code & 0xF8 == 0x00:  # TAX
                x = a
            else:  # TXA
                a = x
    raise AssertionError("the program did not return")


# --- libseccomp (seccomp.h of libseccomp 2.5) ---------------------------------------
SCMP_CMP = {"NE": 1, "LT": 2, "LE": 3, "EQ": 4, "GE": 5, "GT": 6, "MASKED_EQ": 7}
SCMP_ARCH = {"x86_64": 0xC000003E, "x32": 0x4000003E, "i386": 0x40000003,
             "aarch64": 0xC00000B7, "arm": 0x40000028}
SCMP_ACT_ALLOW = 0x7FFF0000


def scmp_act_errno(err: int) -> int:
    return 0x00050000 | err


class _ArgCmp(ctypes.Structure):
    _fields_ = [("arg", ctypes.c_uint), ("op", ctypes.c_int), ("datum_a", ctypes.c_uint64),
                ("datum_b", ctypes.c_uint64)]


def libseccomp() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("seccomp")
    if name is None:
        return None
    lib = ctypes.CDLL(name)
    lib.seccomp_init.restype = ctypes.c_void_p
    lib.seccomp_init.argtypes = [ctypes.c_uint32]
    lib.seccomp_arch_add.argtypes = [ctypes.c_void_p, ctypes.c_uint32]
    lib.seccomp_arch_remove.argtypes = [ctypes.c_void_p, ctypes.c_uint32]
    lib.seccomp_rule_add_array.argtypes = [ctypes.c_void_p, ctypes.c_uint32, ctypes.c_int,
                                           ctypes.c_uint, ctypes.POINTER(_ArgCmp)]
    lib.seccomp_export_bpf.argtypes = [ctypes.c_void_p, ctypes.c_int]
    lib.seccomp_release.argtypes = [ctypes.c_void_p]
    lib.seccomp_syscall_resolve_name.argtypes = [ctypes.c_char_p]
    lib.seccomp_syscall_resolve_name_arch.argtypes = [ctypes.c_uint32, ctypes.c_char_p]
    return lib


def libseccomp_program(lib: ctypes.CDLL, abis: tuple[str, ...], rules: list[tuple],
                       default: int) -> bytes:
    """``rules`` (seccomp_profile's (names, action, errno, args, …) after selection)
    as runc adds them to a libseccomp filter over ``abis`` (native first)."""
    ctx = lib.seccomp_init(default)
    assert ctx
    try:
        native = SCMP_ARCH[abis[0]]
        if lib.seccomp_arch_add(ctx, native) not in (0, -17):  # -EEXIST: the host's
            raise OSError("seccomp_arch_add")
        if native != SCMP_ARCH[os.uname().machine if os.uname().machine in SCMP_ARCH
                               else "x86_64"]:
            lib.seccomp_arch_remove(ctx, 0)  # SCMP_ARCH_NATIVE: a foreign filter
        for abi in abis[1:]:
            assert lib.seccomp_arch_add(ctx, SCMP_ARCH[abi]) == 0
        for names, action, err, args, *_ in rules:
            act = SCMP_ACT_ALLOW if action == "ALLOW" else scmp_act_errno(err)
            conds = (_ArgCmp * max(1, len(args)))()
            for i, (index, op, value, value_two) in enumerate(args):
                conds[i] = _ArgCmp(index, SCMP_CMP[op], value, value_two)
            for name in names:
                # runc: GetSyscallFromName: the number in the host's arch (or a pseudo
                # number), which libseccomp translates by name into each arch of the
                # filter; also for a filter of another arch built here
                nr = lib.seccomp_syscall_resolve_name(name.encode())
                if nr == -1:  # __NR_SCMP_ERROR: unknown to this libseccomp: runc skips it
                    continue
                ret = lib.seccomp_rule_add_array(ctx, act, nr, len(args), conds)
                if ret != 0:
                    raise OSError(-ret, f"seccomp_rule_add {name}: {os.strerror(-ret)}")
        r, w = os.pipe()
        try:
            ret = lib.seccomp_export_bpf(ctx, w)
            os.close(w)
            w = -1
            if ret != 0:
                raise OSError(-ret, "seccomp_export_bpf")
            chunks = []
            while chunk := os.read(r, 65536):
                chunks.append(chunk)
            return b"".join(chunks)
        finally:
            os.close(r)
            if w != -1:
                os.close(w)
    finally:
        lib.seccomp_release(ctx)

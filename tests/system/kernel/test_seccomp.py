"""kernel/seccomp programs and syscalls.set_seccomp_filter against the kernel itself:
a fresh interpreter loads a program and makes the calls it decides on (any user:
no_new_privs is enough to load a filter, seccomp(2))."""

from __future__ import annotations

import os
import subprocess
import sys

from support import REPO

HEAD = """
import errno, os
from nsscope.kernel import seccomp, syscalls as sc, syscall_numbers as sn
from nsscope.kernel.seccomp import ArgCheck, Compare, Table, RET_ALLOW
machine = os.uname().machine
abi = sn.ABIS[machine][0]
nr = sn.numbers(abi)
arch = sn.AUDIT_ARCH[abi]
"""


def child(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", HEAD + code], capture_output=True, text=True,
                          cwd=REPO, timeout=60, check=False)


def test_the_kernel_runs_a_program_as_built():
    """getcwd fails with ENOMSG, getpriority only for one "which", uname is left
    alone, and /proc/self/status counts the filter; an ABI the table does not
    name would be killed (not tried: it would kill this interpreter)."""
    r = child("""
which_ok = ArgCheck(((Compare(0, "EQ", 0),),), RET_ALLOW, seccomp.errno_ret(errno.EDOM))
ranges = seccomp.ranges_of({nr["getcwd"]: seccomp.errno_ret(errno.ENOMSG),
                            nr["getpriority"]: which_ok}, RET_ALLOW)
sc.set_no_new_privs()
sc.set_seccomp_filter(seccomp.program([Table(arch, tuple(ranges))]))
status = open("/proc/self/status").read()
print([line for line in status.splitlines() if line.startswith("Seccomp")])
try:
    os.getcwd()
except OSError as e:
    print("getcwd", errno.errorcode[e.errno])
print("uname", os.uname().sysname)
print("prio-process", os.getpriority(os.PRIO_PROCESS, 0))
try:
    os.getpriority(os.PRIO_PGRP, 0)
except OSError as e:
    print("prio-pgrp", errno.errorcode[e.errno])
""")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == "['Seccomp:\\t2', 'Seccomp_filters:\\t1']"
    assert lines[1:] == ["getcwd ENOMSG", "uname Linux", f"prio-process {os.getpriority(0, 0)}",
                         "prio-pgrp EDOM"]


def test_without_no_new_privs_or_with_a_bad_program_the_kernel_refuses():
    r = child("""
import sys
if os.geteuid() == 0:  # root may load one without no_new_privs (CAP_SYS_ADMIN): drop it
    sc.capbset_drop(21)
    e, p, i = sc.capget()
    sc.capset(e & ~(1 << 21), p & ~(1 << 21), 0)
program = seccomp.program([Table(arch, ((0, RET_ALLOW),))])
for what, prog in (("no-nnp", program), ("empty", b""), ("bad-op", b"\\xff" * 8)):
    if what != "no-nnp":
        sc.set_no_new_privs()
    try:
        sc.set_seccomp_filter(prog)
        print(what, "loaded")
    except OSError as e:
        print(what, errno.errorcode[e.errno], "seccomp" in str(e))
""")
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == ["no-nnp EACCES True", "empty EINVAL True",
                                     "bad-op EINVAL True"]

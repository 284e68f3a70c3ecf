"""The seccomp tests' probe (seccomp_probe.c): built once, run in containers.

``build_probe(dir)`` compiles it static with the host's gcc; ``parse(out)`` reads
its "NAME RESULT" lines. ``PROBES`` are the calls it knows.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

SOURCE = Path(__file__).with_name("seccomp_probe.c")
PROBES = ("getpid", "unshare-user", "clone-user", "clone-fork", "clone3", "keyctl", "add_key",
          "request_key", "bpf", "perf_event_open", "mount", "umount2", "setns", "userfaultfd",
          "socket-vsock", "socket-unix", "personality-bsd", "personality-query",
          "kexec_load", "init_module", "open_by_handle_at", "ptrace-peek", "io_uring_setup")


def build_probe(directory: Path, gcc: str = "gcc") -> Path:
    out = directory / "seccomp-probe"
    subprocess.run([gcc, "-static", "-O2", "-Wall", "-Werror", "-o", str(out), str(SOURCE)],
                   check=True, capture_output=True, text=True)
    return out


def parse(stdout: str) -> dict[str, str]:
    results = dict(line.split(" ", 1) for line in stdout.splitlines() if " " in line)
    assert "unknown-probe" not in results.values(), results
    return results

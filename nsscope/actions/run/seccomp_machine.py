"""The machines and kernels nsscope has a seccomp filter for, and the refusal when it
has none: what the filter (seccomp_filter), the rules (seccomp_profile) and the
options' check (spec) all need, in a module that needs none of them."""

from __future__ import annotations

from nsscope.errors import NsscopeError

#: uname -m -> docker's name of the native arch (moby seccomp_linux.go: GOARCH via
#: goToNative); the machines nsscope has a filter for
NATIVE = {"x86_64": "amd64", "aarch64": "arm64"}


class NoFilter(NsscopeError):
    """No seccomp filter for this machine: run refuses (unless seccomp=unconfined)."""


def kernel_version(release: str) -> tuple[int, int]:
    """"6.18.44-fc" -> (6, 18), as moby's kernel_linux.go parseRelease ("%d.%d")."""
    major, _, rest = release.partition(".")
    minor = ""
    for c in rest:
        if not c.isdigit():
            break
        minor += c
    try:
        return int(major), int(minor)
    except ValueError:
        raise NoFilter(f"cannot read the kernel version from {release!r}") from None

"""Bad input is one line and changes nothing (issue 12, items 10, 11, 14): sizes,
ids, offsets and timeouts are judged at parse time, exactly, before anything runs."""

from __future__ import annotations

import pytest

from nsscope.actions.run import spec

from support import run_nsscope


def test_sizes_are_exact_integers():
    """Today's bug: 2**64-1 became 2**64 through a float (the kernel read 0)."""
    assert spec.parse_size("18446744073709551615") == 2**64 - 1
    assert spec.parse_size("1.5k") == 1536 and spec.parse_size("64M") == 64 << 20
    assert spec.parse_size("9007199254740993") == 9007199254740993  # 2**53 + 1


@pytest.mark.parametrize("value", ["nan", "-1", "1e309", "1e20", "inf"])
def test_stop_timeout_is_checked_before_any_signal(value):
    r = run_nsscope("stop", "-t", value, "nsscope-test-sec-none")
    assert r.returncode == 2 and "-t" in r.stderr and "Traceback" not in r.stderr, r.stderr

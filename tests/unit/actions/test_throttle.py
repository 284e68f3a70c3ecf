"""``nsscope throttle``'s limits: what 20%, 0.5 and a period mean, and the steps of --watch."""

from __future__ import annotations

import pytest

from nsscope.actions import throttle
from nsscope.errors import BadInput


@pytest.mark.parametrize("text, quota, period", [
    ("20%", 20_000, 100_000),
    ("150%", 150_000, 100_000),
    ("0.5", 50_000, 100_000),
    (".25", 25_000, 100_000),
    ("2.0", 200_000, 100_000),
    ("max", None, 100_000),
    ("OFF", None, 100_000),
])
def test_limit_semantics(text, quota, period):
    # systemd CPUQuota=: % of one CPU; docker --cpus: CPUs
    lim = throttle.parse_limit(text, cpus=2)
    assert (lim.quota_usec, lim.period_usec) == (quota, period)


def test_period_changes_quota_and_bounds():
    assert throttle.parse_period("100ms") == 100_000
    assert throttle.parse_period("1s") == 1_000_000
    assert throttle.parse_period("1ms") == 1_000
    assert throttle.parse_period("50000") == 50_000
    assert throttle.parse_limit("20%", throttle.parse_period("10ms"), cpus=2).quota_usec == 2_000
    for bad in ("999us", "1.5s", "2s", "fast", "-1ms"):
        with pytest.raises(BadInput):
            throttle.parse_period(bad)
    # 0.5% of a 100 ms period is 500 µs, under the kernel's 1 ms; with a 1 s period it is fine
    with pytest.raises(BadInput, match="1ms minimum"):
        throttle.parse_limit("0.5%", 100_000, cpus=2)
    assert throttle.parse_limit("0.5%", 1_000_000, cpus=2).quota_usec == 5_000


def test_arrow_steps_stay_in_bounds():
    lim = throttle.Limit(20_000)
    assert throttle.stepped(lim, 5, cpus=2).quota_usec == 25_000
    assert throttle.stepped(lim, -5, cpus=2).quota_usec == 15_000
    assert throttle.stepped(throttle.Limit(2_000), -5, cpus=2).quota_usec == 1_000
    assert throttle.stepped(throttle.Limit(None), -5, cpus=2).quota_usec == 195_000
    assert throttle.stepped(throttle.Limit(200_000), 5, cpus=2).quota_usec == 200_000

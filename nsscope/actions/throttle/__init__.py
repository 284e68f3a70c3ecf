"""``nsscope throttle``: put a CPU bandwidth limit on a process or a container, and undo it.

The limit is the CFS bandwidth controller's: a quota of CPU time per period
(Documentation/scheduler/sched-bwc.rst), in ``cpu.cfs_quota_us`` and
``cpu.cfs_period_us`` of the v1 ``cpu`` hierarchy, or ``cpu.max`` on cgroup v2
(Documentation/admin-guide/cgroup-v2.rst). A limit belongs to a cgroup, so:

- a container, or a process alone in its cgroup (with only its own
  descendants), is limited in place;
- a process that shares its cgroup with unrelated processes (the root cgroup,
  a login session) is moved — with ``tree``, together with its descendants
  that share that cgroup — into a new ``/nsscope/throttle-<pid>`` cgroup,
  which is limited. On v1 it is moved in the cpu hierarchy and, so that its
  usage and pressure can be read, in a separate cpuacct hierarchy and in a
  hybrid host's cgroup2; its other controllers (memory, pids, …) are left.

Everything changed is recorded first under ``/run/nsscope/throttle`` (one
JSON file per limited cgroup, written atomically, staged as the changes are
made) so that ``reset`` puts back the exact original contents, moves moved
processes back and removes the cgroups nsscope made. A lock serialises every
throttle and reset on the host: two at once on the same target cannot both
believe they saw the original, and a reset cannot remove ``/nsscope`` while
another throttle creates a cgroup in it.

This package changes things and returns what it did; it prints nothing (the
CLI in ``nsscope.cli.throttle`` does).
"""

from nsscope.actions.throttle.apply import apply, current_limit, limited_cgroup
from nsscope.actions.throttle.journal import STATE_DIR, locked, record_for, records
from nsscope.actions.throttle.limit import (
                                            DEFAULT_PERIOD_USEC,
                                            MAX_PERIOD_USEC,
                                            MIN_PERIOD_USEC,
                                            MIN_QUOTA_USEC,
                                            Limit,
                                            format_usec,
                                            host_cpus,
                                            parse_limit,
                                            parse_period,
                                            stepped,
)
from nsscope.actions.throttle.outcome import FileChange, Outcome
from nsscope.actions.throttle.placement import PARENT, Host, Plan, host, plan
from nsscope.actions.throttle.reset import prune, reset
from nsscope.actions.throttle.systemd import systemd_booted

__all__ = ["DEFAULT_PERIOD_USEC", "MAX_PERIOD_USEC", "MIN_PERIOD_USEC", "MIN_QUOTA_USEC", "PARENT",
           "STATE_DIR", "FileChange", "Host", "Limit", "Outcome", "Plan", "apply",
           "current_limit", "format_usec", "host", "host_cpus", "limited_cgroup", "locked",
           "parse_limit", "parse_period", "plan", "prune", "record_for", "records", "reset",
           "stepped", "systemd_booted"]

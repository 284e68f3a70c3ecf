"""``nsscope throttle``: put a CPU bandwidth limit on a process or a container, and undo it.

The limit is the CFS bandwidth controller's: a quota of CPU time per period
(Documentation/scheduler/sched-bwc.rst), in ``cpu.cfs_quota_us`` and
``cpu.cfs_period_us`` of the v1 ``cpu`` hierarchy, or ``cpu.max`` on cgroup v2
(Documentation/admin-guide/cgroup-v2.rst). A limit belongs to a cgroup, so:

- a container, or a process alone in its cgroup (with only its own
  descendants), is limited in place;
- a process that shares its cgroup with unrelated processes is moved — with
  ``tree``, together with its descendants that share that cgroup — into a new
  cgroup *beneath* the one it shares (``<cgroup>/nsscope-throttle-<pid>``), so
  that its container's and pod's limits still bind it; from the root cgroup, into
  ``/nsscope/throttle-<pid>``. On v1 it is moved in the cpu hierarchy and, so that
  its usage and pressure can be read, in a separate cpuacct hierarchy and in a
  hybrid host's cgroup2 (each time beneath its cgroup there); its other
  controllers (memory, pids, …) are left. On v2 no cgroup with the cpu controller
  can be made beneath one that holds processes: moving it to the top, out of its
  cgroup's limits, is refused unless none binds it there or ``force``.

Everything changed is recorded first under ``/run/nsscope/throttle`` (one
typed ``Record``, one JSON file per limited cgroup, written atomically, staged
as the changes are made), with the files' original contents and what nsscope
wrote. ``reset`` puts back the exact original, moves back the processes still
where nsscope put them and removes the cgroups nsscope made — unless someone
changed the limit since nsscope wrote it: then it changes nothing and says so
(``force`` restores anyway); a new limit over such a change says so too. A
lock serialises every throttle and reset on the host: two at once on the same
target cannot both believe they saw the original, and a reset cannot remove
``/nsscope`` while another throttle creates a cgroup in it.

This package changes things and returns what it did; it prints nothing (the
CLI in ``nsscope.cli.throttle`` does).
"""

from nsscope.actions.throttle.apply import apply, current_limit, limited_cgroup
from nsscope.actions.throttle.journal import STATE_DIR, Record, locked, record_for, records
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
from nsscope.actions.throttle.placement import PARENT, Host, Placement, host, plan
from nsscope.actions.throttle.reset import ChangedSince, prune, reset
from nsscope.actions.throttle.systemd import systemd_booted

__all__ = ["DEFAULT_PERIOD_USEC", "MAX_PERIOD_USEC", "MIN_PERIOD_USEC", "MIN_QUOTA_USEC", "PARENT",
           "STATE_DIR", "ChangedSince", "FileChange", "Host", "Limit", "Outcome", "Placement",
           "Record", "apply",
           "current_limit", "format_usec", "host", "host_cpus", "limited_cgroup", "locked",
           "parse_limit", "parse_period", "plan", "prune", "record_for", "records", "reset",
           "stepped", "systemd_booted"]

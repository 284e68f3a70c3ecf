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

This module changes things and returns what it did; it prints nothing (the
CLI in ``nsscope.views.throttle`` does).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import re
import shutil
import subprocess
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Any

from nsscope import cgroups, processes
from nsscope.collector import Roots
from nsscope.errors import AccessDenied, BadInput, NoSuchProcess, NsscopeError
from nsscope.model import Cgroup, Hierarchy, Process
from nsscope.syscalls import write_file
from nsscope.targets import Target, check_alive

#: where the originals are recorded (tmpfs: a reboot forgets them, as it forgets the limits)
STATE_DIR = "/run/nsscope/throttle"
#: sd_booted(3): the system runs systemd as PID 1 when this directory exists
SYSTEMD_DIR = "/run/systemd/system"
#: the live host's /proc and /sys/fs/cgroup
LIVE = Roots()
#: the cgroup (in each hierarchy) under which nsscope makes the ones it needs
PARENT = "/nsscope"

DEFAULT_PERIOD_USEC = 100_000
#: the kernel's bounds (kernel/sched/core.c: min_cfs_quota_period 1 ms,
#: max_cfs_quota_period 1 s, min_cfs_rq_runtime; sched-bwc.rst "Management")
MIN_PERIOD_USEC = 1_000
MAX_PERIOD_USEC = 1_000_000
MIN_QUOTA_USEC = 1_000

#: systemd unit types whose cgroup is the unit's (systemd.resource-control(5))
_UNIT_SUFFIXES = (".service", ".scope", ".slice")

_PERCENT = re.compile(r"(\d+(?:\.\d*)?|\.\d+)%")
_CPUS = re.compile(r"\d+\.\d*|\.\d+")
_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*(us|µs|ms|s)?")
_USEC_PER = {"us": 1, "µs": 1, "ms": 1000, "s": 1_000_000}


# --- limits ----------------------------------------------------------------------------

@dataclass(frozen=True)
class Limit:
    """A CFS bandwidth limit: ``quota_usec`` of CPU time per ``period_usec``; None is unlimited."""

    quota_usec: int | None
    period_usec: int = DEFAULT_PERIOD_USEC

    @property
    def cpus(self) -> float | None:
        return None if self.quota_usec is None else self.quota_usec / self.period_usec

    @property
    def percent(self) -> float | None:
        """In % of one CPU, systemd CPUQuota= style (150 = one and a half CPUs)."""
        cpus = self.cpus
        return None if cpus is None else 100.0 * cpus

    def cpu_max(self) -> str:
        """The v2 ``cpu.max`` text: '$MAX $PERIOD'."""
        return f"{'max' if self.quota_usec is None else self.quota_usec} {self.period_usec}"

    def __str__(self) -> str:
        if self.quota_usec is None:
            return "unlimited"
        return f"{self.percent:g}% ({self.cpus:.2f} CPU)"


def host_cpus() -> int:
    return os.cpu_count() or 1


def format_usec(usec: int) -> str:
    if usec % 1_000_000 == 0:
        return f"{usec // 1_000_000}s"
    if usec % 1000 == 0:
        return f"{usec // 1000}ms"
    return f"{usec}µs"


def parse_period(text: str) -> int:
    """``--period``: '100ms', '1s', '50000us' or bare µs (the kernel files' unit); 1 ms to 1 s."""
    m = _DURATION.fullmatch(text.strip())
    if not m:
        raise BadInput(f"bad period {text!r}: give a duration from 1ms to 1s, e.g. 100ms")
    usec = round(float(m[1]) * _USEC_PER[m[2] or "us"])
    if not MIN_PERIOD_USEC <= usec <= MAX_PERIOD_USEC:
        raise BadInput(f"period {text} is outside the kernel's range of 1ms to 1s "
                       "(Documentation/scheduler/sched-bwc.rst)")
    return usec


def parse_limit(text: str, period_usec: int = DEFAULT_PERIOD_USEC,
                cpus: int | None = None) -> Limit:
    """LIMIT as the user writes it.

    '20%' is 0.2 CPU (systemd's CPUQuota= semantics: % of one CPU, so '150%'
    is 1.5 CPUs); '0.5' is CPUs (docker's --cpus), so a number of CPUs needs a
    decimal point; 'max' or 'off' lifts the limit. A bare integer ('20') is
    refused as ambiguous rather than guessed.
    """
    t = text.strip().lower()
    if t in ("max", "off"):
        return Limit(None, period_usec)
    if not t.isascii():
        # str.isdigit and float() take '²' and Arabic-Indic digits: ASCII only
        raise BadInput(f"bad limit {text!r}: give a share of one CPU (20%), a number of CPUs "
                       "(0.5) or max/off, in ASCII digits")
    m = _PERCENT.fullmatch(t)
    if m:
        want = float(m[1]) / 100.0
    elif _CPUS.fullmatch(t):
        want = float(t)
    elif t.lstrip("-").rstrip("%").replace(".", "", 1).isdigit() and t.count("%") <= 1 and (
            t.startswith("-") or ("%" not in t and "." not in t)):
        if t.startswith("-"):
            raise BadInput(f"bad limit {text!r}: a limit must be more than 0 "
                           "(max or off lifts it)")
        raise BadInput(f"ambiguous limit {text!r}: write {t}% for {int(t) / 100:g} CPU, "
                       f"or {t}.0 for {t} CPUs")
    else:
        raise BadInput(f"bad limit {text!r}: give a share of one CPU (20%), a number of CPUs "
                       "(0.5) or max/off")
    if want <= 0:
        raise BadInput(f"bad limit {text!r}: a limit must be more than 0 (max or off lifts it)")
    have = cpus or host_cpus()
    if want > have:
        raise BadInput(f"limit {text} is {want:g} CPUs, more than this host's {have}")
    quota = round(want * period_usec)
    if quota < MIN_QUOTA_USEC:
        raise BadInput(f"limit {text} with a {format_usec(period_usec)} period is a quota of "
                       f"{quota}µs, under the kernel's 1ms minimum (sched-bwc.rst): "
                       "raise the limit or the --period")
    return Limit(quota, period_usec)


def stepped(limit: Limit, points: float, cpus: int | None = None) -> Limit:
    """``limit`` moved by ``points`` % of one CPU (the --watch arrow keys), kept in bounds.

    From unlimited, a step down starts at the whole host.
    """
    have = cpus or host_cpus()
    pct = limit.percent if limit.percent is not None else 100.0 * have
    pct = round(pct + points, 6)
    floor = 100.0 * MIN_QUOTA_USEC / limit.period_usec
    pct = min(max(pct, floor, 1.0), 100.0 * have)
    return Limit(round(pct / 100.0 * limit.period_usec), limit.period_usec)


# --- where the limit goes -------------------------------------------------------------------

@dataclass(frozen=True)
class Host:
    """The hierarchies a throttle works with."""

    hierarchies: tuple[Hierarchy, ...]
    #: the one with the cpu controller (v1 cpu or cpu,cpuacct; else the unified one)
    cpu: Hierarchy
    #: where a moved process is moved too: a v1 cpuacct mounted apart (its
    #: usage) and a hybrid host's cgroup2 (its PSI, usage_usec)
    companions: tuple[Hierarchy, ...]

    @property
    def version(self) -> int:
        return self.cpu.version

    def by_key(self, key: str) -> Hierarchy | None:
        for h in self.hierarchies:
            if h.key == key:
                return h
        return None

    def dir(self, path: str, h: Hierarchy | None = None) -> str:
        d = cgroups.dir_of(h or self.cpu, path)
        if d is None:
            raise NsscopeError(f"cgroup {path} is outside the {(h or self.cpu).mountpoint} "
                               "mount (a cgroup namespace?)")
        return d

    def read(self, path: str) -> Cgroup | None:
        """The cgroup's CPU figures, through the same reader as every view."""
        return cgroups.read_cgroup(self.hierarchies, path, controllers=("cpu",))


def host(roots: Roots = LIVE) -> Host:
    hs = cgroups.hierarchies(roots.cgroup, roots.proc)
    cpu = cgroups.cpu_hierarchy(hs)
    if cpu is None:
        raise NsscopeError(f"no cgroup hierarchy with the cpu controller under {roots.cgroup}")
    companions: list[Hierarchy] = []
    if cpu.version == 1:
        for h in hs:
            cpuacct_apart = h.version == 1 and h is not cpu and "cpuacct" in h.controllers
            if cpuacct_apart or h.version == 2:
                companions.append(h)
    return Host(hierarchies=hs, cpu=cpu, companions=tuple(companions))


@dataclass(frozen=True)
class Plan:
    cgroup: str
    #: pids to move into ``cgroup`` (empty: limit it in place)
    move: tuple[int, ...]
    #: pid -> {hierarchy key: cgroup path} before the move
    origins: dict[int, dict[str, str]]
    #: why this cgroup, said to the user
    reason: str
    #: v2: cgroups whose subtree_control needs +cpu, root first
    enable: tuple[str, ...] = ()
    #: the systemd unit owning the cgroup, when systemd runs it
    unit: str | None = None


def _parent(path: str) -> str:
    head = path.rsplit("/", 1)[0]
    return head or "/"


def _ancestors(path: str) -> list[str]:
    """'/a/b/c' -> ['/', '/a', '/a/b'] (root first)."""
    parts = [p for p in path.split("/") if p]
    if not parts:
        return []
    return ["/", *("/" + "/".join(parts[:i]) for i in range(1, len(parts)))]


def _words(path: str) -> list[str]:
    text = cgroups._read(path)  # the readers' own os.open reader
    return text.split() if text else []


def _v2_enable_path(hst: Host, cgroup: str) -> tuple[list[str], str | None]:
    """The ancestors of ``cgroup`` whose subtree_control lacks +cpu, and why that is
    impossible (None when it is possible).

    cgroup-v2.rst, "No Internal Process Constraint": a non-root cgroup can
    enable domain controllers for its children only if it has no processes.
    """
    need: list[str] = []
    for a in _ancestors(cgroup):
        d = hst.dir(a)
        if "cpu" in _words(d + "/cgroup.subtree_control"):
            continue
        if a != "/" and cgroups.read_procs(d):
            return need, (f"cgroup {a} above it holds processes, so the cpu controller "
                          "cannot be enabled below it (cgroup-v2.rst, no internal process "
                          "constraint)")
        need.append(a)
    return need, None


def systemd_booted(systemd_dir: str = SYSTEMD_DIR) -> bool:
    """sd_booted(3): systemd is PID 1 when /run/systemd/system/ exists (PID 1 itself is
    not looked at: it may be unreadable)."""
    return os.path.isdir(systemd_dir)


def _unit_of(cgroup: str) -> str | None:
    name = cgroup.rsplit("/", 1)[-1]
    return name if name.endswith(_UNIT_SUFFIXES) else None


def _origins(pids: list[int], hst: Host, proc: str) -> dict[int, dict[str, str]]:
    out = {}
    for pid in pids:
        try:
            cgs = processes.read_process(pid, proc, cmdline=False).cgroups
        except NoSuchProcess:
            continue
        out[pid] = {h.key: cgs[h.key] for h in (hst.cpu, *hst.companions) if h.key in cgs}
    return out


def _throttleable(pid: int, proc: str) -> Process:
    p = processes.read_process(pid, proc, cmdline=False)
    if p.kernel_thread:
        raise BadInput(f"pid {pid} ({p.comm}) is a kernel thread: kernel threads stay in the "
                       "root cgroup and cannot be throttled")
    return p


def plan(target: Target, hst: Host, *, tree: bool = False, roots: Roots = LIVE,
         systemd_dir: str = SYSTEMD_DIR, own_ok: bool = True) -> Plan:
    """Which cgroup to limit for ``target`` (reads only).

    ``own_ok=False`` moves the process even when its cgroup is its own (used
    when that cgroup cannot get the cpu controller).
    """
    pid = target.pid
    p = _throttleable(pid, roots.proc)
    current = p.cgroups.get(hst.cpu.key)
    if current is None:
        raise NsscopeError(f"pid {pid} is in no cgroup of the {hst.cpu.mountpoint} hierarchy")
    move: tuple[int, ...] = ()
    if target.cgroup is not None:
        cgroup = target.cgroup
        reason = f"container {target.container or target.pid}'s own cgroup"
    else:
        members = cgroups.read_procs(hst.dir(current))
        family = [pid, *processes.descendants(pid, roots.proc)]
        kin = set(family)
        others = [m for m in members if m not in kin]
        if own_ok and current not in ("/", hst.cpu.root) and not others:
            cgroup = current
            reason = (f"pid {pid} has cgroup {current} to itself"
                      + (" and its descendants" if len(members) > 1 else ""))
        else:
            cgroup = f"{PARENT}/throttle-{pid}"
            inside = set(members)
            move = tuple(m for m in family if m in inside) if tree else (pid,)
            if not others:
                where = f"cgroup {current}"
            elif current in ("/", hst.cpu.root):
                where = f"the root cgroup with {len(others)} other processes"
            else:
                where = (f"cgroup {current} with {len(others)} other "
                         f"process{'es' if len(others) != 1 else ''}")
            reason = (f"pid {pid} shares {where}: moved "
                      + (f"it and {len(move) - 1} descendant(s)" if len(move) > 1 else "it")
                      + f" to {cgroup}")
            if hst.version == 2 and current not in ("/", hst.cpu.root):
                # one hierarchy for every controller (cgroup-v2.rst): the move is total
                reason += (f" (cgroup v2: this also takes it out of {current}'s memory, io "
                           "and pids limits)")
    enable: tuple[str, ...] = ()
    if hst.version == 2:
        # a moved process goes to /nsscope/throttle-PID: +cpu is needed in / and /nsscope
        need, impossible = _v2_enable_path(hst, cgroup)
        if impossible is not None:
            if target.cgroup is not None or move:
                raise NsscopeError(f"cannot limit {cgroup}: {impossible}")
            # its own cgroup cannot get the controller: a cgroup of nsscope's instead
            moved = plan(target, hst, tree=tree, roots=roots, systemd_dir=systemd_dir,
                         own_ok=False)
            return replace(moved, reason=f"{impossible}; moved pid {pid} to {moved.cgroup} "
                                         "instead")
        enable = tuple(need)
    unit = _unit_of(cgroup) if not move and systemd_booted(systemd_dir) else None
    return Plan(cgroup=cgroup, move=move, origins=_origins(list(move), hst, roots.proc),
                reason=reason, enable=enable, unit=unit)


# --- kernel files ---------------------------------------------------------------------------

def _read_text(path: str) -> str:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        raise NsscopeError(f"{path} does not exist (is the cpu controller enabled there?)") \
            from None
    try:
        return os.read(fd, 4096).decode()
    finally:
        os.close(fd)


def _refused(path: str, value: str, e: OSError, hint: str = "") -> NsscopeError:
    if e.errno in (errno.EACCES, errno.EPERM):
        return AccessDenied(path, f"permission denied writing {value!r} to {path}")
    return NsscopeError(f"{path}: the kernel refused {value!r} ({e.strerror}){hint}")


#: the v1 hierarchy rule that most often refuses a quota
_V1_HINT = ("; on cgroup v1 a cgroup's quota may not exceed its parent's "
            "(tg_cfs_schedulable_down, sched-bwc.rst 'Hierarchical considerations')")


def _write_v1(d: str, quota: str, period: str) -> None:
    """Set cpu.cfs_quota_us and cpu.cfs_period_us, or neither.

    The kernel checks each write against the other file's current value
    (tg_set_cfs_bandwidth), so one order can be refused where the other is
    accepted; if the second write of an order fails, the first is undone and
    the other order tried. On failure both files hold their old values.
    """
    qf, pf = d + "/cpu.cfs_quota_us", d + "/cpu.cfs_period_us"
    old_q, old_p = _read_text(qf).strip(), _read_text(pf).strip()
    steps = [(f, new, old) for f, new, old in ((qf, quota, old_q), (pf, period, old_p))
             if new != old]
    if not steps:
        return
    first_error: tuple[str, str, OSError] | None = None
    for order in (steps, steps[::-1]):
        done = []
        try:
            for f, new, old in order:
                write_file(f, new)
                done.append((f, old))
            return
        except OSError as e:
            if first_error is None:
                first_error = (f, new, e)
            for f_done, old in reversed(done):
                write_file(f_done, old)
        if len(steps) == 1:
            break
    assert first_error is not None
    path, value, err = first_error
    raise _refused(path, value, err, _V1_HINT if err.errno == errno.EINVAL else "")


def limit_files(version: int) -> tuple[str, ...]:
    return ("cpu.max",) if version == 2 else ("cpu.cfs_quota_us", "cpu.cfs_period_us")


def _read_files(d: str, version: int) -> dict[str, str]:
    return {name: _read_text(f"{d}/{name}") for name in limit_files(version)}


def _write_limit(d: str, version: int, limit: Limit) -> None:
    if version == 2:
        value = limit.cpu_max()
        try:
            write_file(d + "/cpu.max", value)
        except OSError as e:
            raise _refused(d + "/cpu.max", value, e) from None
    else:
        quota = "-1" if limit.quota_usec is None else str(limit.quota_usec)
        _write_v1(d, quota, str(limit.period_usec))


def _write_files(d: str, version: int, files: dict[str, str]) -> None:
    """Put back recorded file contents exactly."""
    if version == 2:
        value = files["cpu.max"].strip()
        try:
            write_file(d + "/cpu.max", value)
        except OSError as e:
            raise _refused(d + "/cpu.max", value, e) from None
    else:
        _write_v1(d, files["cpu.cfs_quota_us"].strip(), files["cpu.cfs_period_us"].strip())


def _systemctl_quota(unit: str, limit: Limit | None, files: dict[str, str] | None = None
                     ) -> str | None:
    """``systemctl set-property --runtime`` so systemd keeps the limit instead of
    rewriting the file on its next reload (systemd.resource-control(5) CPUQuota=,
    CPUQuotaPeriodSec=). Returns why it failed, None when it worked."""
    exe = shutil.which("systemctl")
    if exe is None:
        return "systemctl is not installed"
    if limit is None or limit.quota_usec is None:
        props = ["CPUQuota=", "CPUQuotaPeriodSec="]  # empty: back to the unit's default
    else:
        props = [f"CPUQuota={limit.percent:.2f}%",
                 f"CPUQuotaPeriodSec={limit.period_usec}us"]
    try:
        r = subprocess.run([exe, "set-property", "--runtime", unit, *props],
                           check=False, capture_output=True, text=True,
                           timeout=30)
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"systemctl: {e}"
    if r.returncode != 0:
        first = (r.stderr or r.stdout).strip().splitlines()
        return f"systemctl set-property failed: {first[0] if first else r.returncode}"
    return None


# --- the record -----------------------------------------------------------------------------

def _record_file(state_dir: str, cgroup: str) -> str:
    return os.path.join(state_dir, urllib.parse.quote(cgroup, safe="") + ".json")


def _save(state_dir: str, rec: dict[str, Any]) -> None:
    """Write the record atomically: a new file renamed over the old (rename(2))."""
    path = _record_file(state_dir, rec["cgroup"])
    tmp = f"{path}.{os.getpid()}.tmp"
    data = json.dumps(rec, indent=1, sort_keys=True).encode()
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


def _load(path: str) -> dict[str, Any] | None:
    try:
        with open(path, "rb") as f:
            rec = json.loads(f.read())
    except FileNotFoundError:
        return None
    except ValueError:
        raise NsscopeError(f"{path}: not a record nsscope can read; remove it by hand") \
            from None
    return rec if isinstance(rec, dict) else None


def records(state_dir: str = STATE_DIR) -> list[dict[str, Any]]:
    """Every limit nsscope has set and not reset on this host."""
    try:
        names = sorted(os.listdir(state_dir))
    except FileNotFoundError:
        return []
    out = []
    for name in names:
        if name.endswith(".json"):
            rec = _load(os.path.join(state_dir, name))
            if rec is not None:
                out.append(rec)
    return out


def record_for(cgroup: str, state_dir: str = STATE_DIR) -> dict[str, Any] | None:
    return _load(_record_file(state_dir, cgroup))


def _drop(state_dir: str, cgroup: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(_record_file(state_dir, cgroup))


@contextlib.contextmanager
def locked(state_dir: str = STATE_DIR) -> Iterator[None]:
    """The host-wide throttle lock (flock(2) on STATE_DIR/.lock, released if we die)."""
    os.makedirs(state_dir, mode=0o755, exist_ok=True)
    fd = os.open(os.path.join(state_dir, ".lock"), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


# --- outcome ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class FileChange:
    #: the file's full path
    path: str
    before: str
    after: str

    @property
    def name(self) -> str:
        return os.path.basename(self.path)


@dataclass(frozen=True)
class Outcome:
    """What ``apply`` or ``reset`` did."""

    cgroup: str
    version: int
    #: the cgroup's directory in the cpu hierarchy
    dir: str
    changes: tuple[FileChange, ...] = ()
    #: pids moved (into ``cgroup`` by apply; back out by reset)
    moved: tuple[int, ...] = ()
    #: cgroups made (apply) or removed (reset), in the cpu hierarchy's terms
    cgroups: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    #: "file" or "systemctl"
    via: str = "file"
    reason: str = ""
    limit: Limit | None = None
    extra: dict[str, Any] = field(default_factory=dict)


# --- apply ----------------------------------------------------------------------------------

def _hierarchies_of(hst: Host) -> tuple[Hierarchy, ...]:
    return (hst.cpu, *hst.companions)


def _find(target: Target, hst: Host, proc: str, state_dir: str) -> dict[str, Any] | None:
    """The record of the cgroup now limiting ``target``, if nsscope made that limit."""
    if target.cgroup is not None:
        return record_for(target.cgroup, state_dir)
    try:
        current = processes.read_process(target.pid, proc, cmdline=False).cgroups.get(
            hst.cpu.key)
    except NoSuchProcess:
        current = None
    if current is not None:
        rec = record_for(current, state_dir)
        if rec is not None:
            return rec
    for rec in records(state_dir):
        t = rec.get("target", {})
        if t.get("pid") == target.pid and t.get("starttime") == target.starttime:
            return rec
    return None


def apply(target: Target, limit: Limit, *, tree: bool = False, roots: Roots = LIVE,
          state_dir: str = STATE_DIR, systemd_dir: str = SYSTEMD_DIR) -> Outcome:
    """Limit ``target``'s CPU; the first change to a cgroup records its original."""
    pid = processes.tgid(target.pid, roots.proc)
    notes: list[str] = []
    if pid != target.pid:
        notes.append(f"pid {target.pid} is a thread of process {pid}: limiting the process")
        target = Target(pid=pid, starttime=processes.starttime(pid, roots.proc),
                        container=target.container, container_id=target.container_id,
                        cgroup=target.cgroup)
    hst = host(roots)
    with locked(state_dir):
        check_alive(target, roots.proc)
        _throttleable(target.pid, roots.proc)  # before anything is touched
        prune(hst, state_dir)
        rec = _find(target, hst, roots.proc, state_dir)
        if rec is not None:
            return _reapply(rec, target, limit, hst, tree=tree, roots=roots,
                            state_dir=state_dir, notes=notes)
        p = plan(target, hst, tree=tree, roots=roots, systemd_dir=systemd_dir)
        if limit.quota_usec is None and p.move:
            nothing = _nothing_to_lift(target, hst, roots)
            if nothing is not None:
                return nothing
        stale = record_for(p.cgroup, state_dir)
        if stale is not None:
            # a record of an earlier process with the same pid (pid reuse): undo it first
            _undo(stale, hst, state_dir)
            notes.append(f"undid an earlier nsscope limit on {p.cgroup} (pid {pid} was reused)")
        return _first(p, target, limit, hst, roots=roots, state_dir=state_dir, notes=notes)


def _nothing_to_lift(target: Target, hst: Host, roots: Roots) -> Outcome | None:
    """'max' for a process in a shared cgroup that no limit binds: nothing to do (moving it
    out would only make a cgroup to hold no limit). None when a limit does bind it."""
    current = processes.read_process(target.pid, roots.proc, cmdline=False).cgroups[hst.cpu.key]
    for path in (*_ancestors(current), current):
        cg = hst.read(path)
        if cg is not None and cg.cpu is not None and cg.cpu.quota_usec is not None:
            return None
    return Outcome(cgroup=current, version=hst.version, dir=hst.dir(current),
                   notes=(f"no CPU limit binds pid {target.pid} (cgroup {current} and its "
                          "ancestors are unlimited): nothing changed",),
                   limit=Limit(None))


def _first(p: Plan, target: Target, limit: Limit, hst: Host, *, roots: Roots,
           state_dir: str, notes: list[str]) -> Outcome:
    rec: dict[str, Any] = {
        "format": 1,
        "cgroup": p.cgroup,
        "version": hst.version,
        "hierarchy": hst.cpu.key,
        "target": {"pid": target.pid, "starttime": target.starttime,
                   "container": target.container, "origin": p.origins.get(target.pid)},
        "reason": p.reason,
        # staged: each list grows just before the change it undoes is made
        "created": [],      # [hierarchy key, cgroup path], parents first
        "enabled": [],      # v2 cgroups where nsscope wrote +cpu to subtree_control
        "moved": [],        # {pid, starttime, from: {key: path}}
        "files": None,      # the limit files' contents before nsscope's first write
        "unit": p.unit,
    }
    _save(state_dir, rec)
    created: list[str] = []
    try:
        if p.move:
            for h in _hierarchies_of(hst):
                created += _mkdirs(hst, h, p.cgroup, rec, state_dir)
        d = hst.dir(p.cgroup)
        for a in p.enable:
            rec["enabled"].append(a)
            _save(state_dir, rec)
            write_file(hst.dir(a) + "/cgroup.subtree_control", "+cpu")
        rec["files"] = _read_files(d, hst.version)
        _save(state_dir, rec)
        via = _set(d, hst.version, limit, p.unit, notes)
        moved = _move_in(p, hst, rec, state_dir, notes)
    except BaseException:
        try:
            _undo(rec, hst, state_dir)
        except (NsscopeError, OSError):
            pass  # the staged record stays: `nsscope throttle --reset` finishes the undo
        raise
    after = _read_files(d, hst.version)
    changes = tuple(FileChange(f"{d}/{n}", rec["files"][n].strip(), after[n].strip())
                    for n in limit_files(hst.version))
    return Outcome(cgroup=p.cgroup, version=hst.version, dir=d, changes=changes, moved=moved,
                   cgroups=tuple(created), notes=tuple(notes), via=via, reason=p.reason,
                   limit=limit)


def _shows(d: str, version: int, limit: Limit) -> bool:
    """Whether the cgroup's files hold ``limit``."""
    files = _read_files(d, version)
    if version == 2:
        return files["cpu.max"].split() == limit.cpu_max().split()
    quota = "-1" if limit.quota_usec is None else str(limit.quota_usec)
    return (files["cpu.cfs_quota_us"].strip(), files["cpu.cfs_period_us"].strip()) == \
        (quota, str(limit.period_usec))


def _mkdirs(hst: Host, h: Hierarchy, cgroup: str, rec: dict[str, Any], state_dir: str
            ) -> list[str]:
    """Make /nsscope and ``cgroup`` below it in ``h``; the paths made (cpu hierarchy only).

    ``nsscope run`` removes an empty /nsscope when its last container goes,
    without this module's lock: if it does so between our two mkdirs, again.
    """
    made: list[str] = []
    for _ in range(20):
        try:
            for path in (PARENT, cgroup):
                d = hst.dir(path, h)
                if os.path.isdir(d):
                    continue
                if [h.key, path] not in rec["created"]:
                    rec["created"].append([h.key, path])
                    _save(state_dir, rec)
                with contextlib.suppress(FileExistsError):
                    os.mkdir(d)
                if h is hst.cpu and path not in made:
                    made.append(path)
            return made
        except FileNotFoundError:
            continue
    raise NsscopeError(f"cannot create {hst.dir(cgroup, h)}: {PARENT} keeps disappearing")


def _set(d: str, version: int, limit: Limit, unit: str | None, notes: list[str]) -> str:
    if unit is not None:
        why = _systemctl_quota(unit, limit)
        # systemctl may succeed without doing anything (it ignores set-property in a
        # chroot, src/systemctl: running_in_chroot_or_offline()): believe the file
        if why is None and _shows(d, version, limit):
            return "systemctl"
        if why is None:
            why = f"systemctl set-property {unit} left the cgroup file unchanged"
        notes.append(f"{why}; wrote the cgroup file instead (systemd may rewrite it)")
    _write_limit(d, version, limit)
    return "file"


def _move_in(p: Plan, hst: Host, rec: dict[str, Any], state_dir: str,
             notes: list[str]) -> tuple[int, ...]:
    moved = []
    for pid in p.move:
        origin = p.origins.get(pid)
        if origin is None:
            continue  # exited since the plan
        try:
            start = processes.starttime(pid)
        except NoSuchProcess:
            continue
        came_from: dict[str, str] = {}
        rec["moved"].append({"pid": pid, "starttime": start, "from": came_from})
        for h in _hierarchies_of(hst):
            if h.key not in origin:
                continue
            came_from[h.key] = origin[h.key]
            _save(state_dir, rec)
            try:
                write_file(hst.dir(p.cgroup, h) + "/cgroup.procs", str(pid))
            except ProcessLookupError:
                break  # exited: nothing to move
            except OSError as e:
                if h is hst.cpu:
                    raise _refused(hst.dir(p.cgroup, h) + "/cgroup.procs", str(pid), e) \
                        from None
                del came_from[h.key]
                _save(state_dir, rec)
                notes.append(f"could not move pid {pid} in the {h.mountpoint} hierarchy "
                             f"({e.strerror}): its usage/pressure there stays its old cgroup's")
        else:
            moved.append(pid)
    return tuple(moved)


def _reapply(rec: dict[str, Any], target: Target, limit: Limit, hst: Host, *, tree: bool,
             roots: Roots, state_dir: str, notes: list[str]) -> Outcome:
    """A cgroup nsscope already limited: change the limit, keep the recorded original."""
    cgroup = rec["cgroup"]
    d = hst.dir(cgroup)
    before = _read_files(d, hst.version)
    via = _set(d, hst.version, limit, rec.get("unit"), notes)
    moved: tuple[int, ...] = ()
    if tree and rec["moved"]:
        # --tree after a plain throttle: bring the descendants still in the old cgroup
        origin = rec["target"].get("origin") or {}
        old = origin.get(hst.cpu.key)
        if old is not None:
            members = set(cgroups.read_procs(hst.dir(old)))
            kids = [k for k in processes.descendants(target.pid, roots.proc) if k in members]
            p = Plan(cgroup=cgroup, move=tuple(kids), origins=_origins(kids, hst, roots.proc),
                     reason="")
            moved = _move_in(p, hst, rec, state_dir, notes)
    after = _read_files(d, hst.version)
    changes = tuple(FileChange(f"{d}/{n}", before[n].strip(), after[n].strip())
                    for n in limit_files(hst.version))
    notes.append(f"nsscope limited {cgroup} before: its original stays recorded for --reset")
    return Outcome(cgroup=cgroup, version=hst.version, dir=d, changes=changes, moved=moved,
                   notes=tuple(notes), via=via, reason=rec.get("reason", ""), limit=limit)


# --- reset ----------------------------------------------------------------------------------

def reset(target: Target | int, *, roots: Roots = LIVE, state_dir: str = STATE_DIR
          ) -> Outcome:
    """Undo what nsscope did to ``target``'s cgroup (a Target, or the pid of one that exited)."""
    hst = host(roots)
    with locked(state_dir):
        if isinstance(target, Target):
            rec = _find(target, hst, roots.proc, state_dir)
            what = (f"container {target.container}" if target.container
                    else f"pid {target.pid}")
        else:
            rec = next((r for r in records(state_dir)
                        if r.get("target", {}).get("pid") == target), None)
            what = f"pid {target}"
        if rec is None:
            raise NsscopeError(f"nothing to reset: nsscope has no limit recorded for {what}")
        out = _undo(rec, hst, state_dir)
        prune(hst, state_dir)
        return out


def prune(hst: Host, state_dir: str = STATE_DIR) -> list[str]:
    """Forget the records nothing is left of; the cgroups concerned. Called under the lock.

    A container removed while limited takes its cgroup with it: its record has
    nothing left to restore. (The record of a throttled process that exited is
    kept: its /nsscope/throttle-PID stays until ``--reset``, which removes it.)
    """
    done = []
    for rec in records(state_dir):
        d = cgroups.dir_of(hst.cpu, rec["cgroup"])
        if d is None or not os.path.isdir(d):
            _remove_created(rec, hst, [])
            _drop(state_dir, rec["cgroup"])
            done.append(rec["cgroup"])
    return done


def _undo(rec: dict[str, Any], hst: Host, state_dir: str) -> Outcome:
    """Restore the files, move processes back, remove what was made; then drop the record.

    Works from a partly staged record too (a throttle that failed or died
    half-way): each step skips what never happened.
    """
    cgroup = rec["cgroup"]
    version = rec["version"]
    notes: list[str] = []
    d = hst.dir(cgroup)
    changes: list[FileChange] = []
    via = "file"
    if rec.get("files") and os.path.isdir(d):
        before = _read_files(d, version)
        if {k: v.strip() for k, v in before.items()} != \
                {k: v.strip() for k, v in rec["files"].items()}:
            if rec.get("unit"):
                why = _systemctl_quota(rec["unit"], None)
                if why is None:
                    via = "systemctl"
                else:
                    notes.append(f"{why}; restored the cgroup file instead")
            now = _read_files(d, version)
            if {k: v.strip() for k, v in now.items()} != \
                    {k: v.strip() for k, v in rec["files"].items()}:
                _write_files(d, version, rec["files"])
        after = _read_files(d, version)
        changes = [FileChange(f"{d}/{n}", before[n].strip(), after[n].strip())
                   for n in limit_files(version)]
    moved = _move_back(rec, hst, notes)
    removed = _remove_created(rec, hst, notes)
    for a in reversed(rec.get("enabled", [])):
        _disable_cpu(hst, a, notes)
    _drop(state_dir, cgroup)
    return Outcome(cgroup=cgroup, version=version, dir=d, changes=tuple(changes),
                   moved=tuple(moved), cgroups=tuple(removed), notes=tuple(dict.fromkeys(notes)),
                   via=via,
                   reason=rec.get("reason", ""))


def _move_back(rec: dict[str, Any], hst: Host, notes: list[str]) -> list[int]:
    """Every process in nsscope's cgroup back where it came from.

    Processes nsscope moved go back to their recorded cgroups; any other
    (children forked inside after the move) go where the target came from.
    """
    if not rec.get("moved"):
        return []
    cgroup = rec["cgroup"]
    default = rec["target"].get("origin") or {}
    by_pid = {m["pid"]: m for m in rec["moved"]}
    back: list[int] = []
    for h in _hierarchies_of(hst):
        d = cgroups.dir_of(h, cgroup)
        if d is None or not os.path.isdir(d):
            continue
        # a process may fork while we move its family out: read the members again
        # until none is left (or a few rounds leave a process that will not move)
        for _ in range(10):
            members = cgroups.read_procs(d)
            if not members:
                break
            for pid in members:
                m = by_pid.get(pid)
                origin = default
                if m is not None and _same_process(pid, m.get("starttime")):
                    origin = m["from"]
                dest = origin.get(h.key) or default.get(h.key) or "/"
                if _move_to(pid, h, dest, notes) and h is hst.cpu and pid not in back:
                    back.append(pid)
    return back


def _same_process(pid: int, start: int | None) -> bool:
    try:
        return processes.starttime(pid) == start
    except NsscopeError:
        return False


def _move_to(pid: int, h: Hierarchy, dest: str, notes: list[str]) -> bool:
    """Move ``pid`` into ``dest`` of ``h``, or its nearest existing ancestor if it is gone."""
    path = dest
    while True:
        d = cgroups.dir_of(h, path)
        if d is not None and os.path.isdir(d):
            break
        if path == "/":
            return False
        path = _parent(path)
    if path != dest:
        notes.append(f"pid {pid}'s old cgroup {dest} is gone: moved it to {path}")
    try:
        write_file(d + "/cgroup.procs", str(pid))
    except ProcessLookupError:
        return False
    except OSError as e:
        notes.append(f"could not move pid {pid} back to {path} ({e.strerror})")
        return False
    return True


def _rmdir(d: str) -> bool:
    """rmdir a cgroup, giving exiting tasks a moment to leave it (EBUSY until they do)."""
    for _ in range(50):
        try:
            os.rmdir(d)
            return True
        except FileNotFoundError:
            return False
        except OSError as e:
            if e.errno not in (errno.EBUSY, errno.ENOTEMPTY):
                raise
            time.sleep(0.02)
    return False


def _remove_created(rec: dict[str, Any], hst: Host, notes: list[str]) -> list[str]:
    removed = []
    for key, path in reversed(rec.get("created", [])):
        h = hst.by_key(key)
        d = cgroups.dir_of(h, path) if h is not None else None
        if d is None or not os.path.isdir(d):
            continue
        if path == PARENT:
            continue  # below: only once empty
        if _rmdir(d):
            if h is hst.cpu:
                removed.append(path)
        else:
            notes.append(f"could not remove {d}: it still holds processes")
    # /nsscope is nsscope's alone; it goes when nothing of nsscope's is left in it
    for h in _hierarchies_of(hst):
        d = cgroups.dir_of(h, PARENT)
        if d is None or not os.path.isdir(d):
            continue
        try:
            os.rmdir(d)
        except OSError:
            continue  # another throttle (or nsscope run) still uses it
        if h is hst.cpu:
            removed.append(PARENT)
    return removed


def _disable_cpu(hst: Host, path: str, notes: list[str]) -> None:
    """Take back a +cpu nsscope wrote to ``path``'s subtree_control, unless a child now
    uses the cpu controller (a limit, a weight, or cpu enabled further down)."""
    d = cgroups.dir_of(hst.cpu, path)
    if d is None or not os.path.isdir(d):
        return
    try:
        kids = [e.path for e in os.scandir(d) if e.is_dir(follow_symlinks=False)]
    except OSError:
        return
    for k in kids:
        cpu_max = _words(k + "/cpu.max")
        weight = _words(k + "/cpu.weight")
        if ((cpu_max and cpu_max[0] != "max") or (weight and weight[0] != "100")
                or "cpu" in _words(k + "/cgroup.subtree_control")):
            notes.append(f"left +cpu in {path}'s cgroup.subtree_control: {k} uses the cpu "
                         "controller now")
            return
    try:
        write_file(d + "/cgroup.subtree_control", "-cpu")
    except OSError as e:
        notes.append(f"left +cpu in {path}'s cgroup.subtree_control ({e.strerror})")


# --- for --watch --------------------------------------------------------------------------

def limited_cgroup(target: Target, roots: Roots = LIVE, state_dir: str = STATE_DIR) -> str:
    """The cgroup whose figures tell how ``target`` is throttled: the one nsscope limited,
    else the container's, else the process's own in the cpu hierarchy."""
    hst = host(roots)
    rec = _find(target, hst, roots.proc, state_dir)
    if rec is not None:
        return rec["cgroup"]
    if target.cgroup is not None:
        return target.cgroup
    p = processes.read_process(target.pid, roots.proc, cmdline=False)
    return p.cgroups.get(hst.cpu.key, "/")


def current_limit(cg: Cgroup | None) -> Limit:
    """The limit a cgroup's figures show (unlimited when unknown)."""
    if cg is None or cg.cpu is None:
        return Limit(None)
    return Limit(cg.cpu.quota_usec, cg.cpu.period_usec or DEFAULT_PERIOD_USEC)

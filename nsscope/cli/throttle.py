"""``nsscope throttle TARGET LIMIT``: the command line of ``nsscope.actions.throttle``,
and ``--watch``.

``--watch`` samples the limited cgroup's CPU figures each second (through
``cgroups.read_cgroup``, like every view) and shows usage, usage as a share
of the limit, throttled periods, throttled time and PSI: as a live plotext
chart on a terminal, where the arrow keys or a typed value change the limit,
or as one line per sample when the output is not a terminal.
"""

from __future__ import annotations

import argparse
import os
import re
import select
import shutil
import signal
import sys
import termios
import time
import tty
from collections import deque
from dataclasses import dataclass

from nsscope.actions import throttle
from nsscope.host.collector import roots_of
from nsscope.errors import BadInput, NsscopeError
from nsscope.host.history import CpuRates, rates
from nsscope.host.model import CpuStats
from nsscope.host.target import Target
from nsscope.host.targets import resolve
from nsscope.printable import safe

#: the arrow keys' step, in % of one CPU
STEP = 5.0
#: how many samples the chart keeps (one a second: five minutes)
KEEP = 300

_UP = (b"\x1b[A", b"\x1bOA")
_DOWN = (b"\x1b[B", b"\x1bOB")


# --- command line ---------------------------------------------------------------------------

def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("target", metavar="TARGET",
                   help="a pid, or a container's name or id as `nsscope ps` lists it; "
                        "pid:PID, id:ID, name:NAME, ns:INODE say which without guessing")
    p.add_argument("limit", metavar="LIMIT", nargs="?",
                   help="without it: print the current limit and usage (over --interval). "
                        "20%% (of one CPU, like systemd CPUQuota=; 150%% = 1.5 CPUs), "
                        "0.5 (CPUs, like docker --cpus) or max/off")
    p.add_argument("--period", metavar="DURATION",
                   help="the CFS period, 1ms to 1s (default 100ms; bare numbers are µs)")
    p.add_argument("--tree", action="store_true",
                   help="when the process must be moved to a cgroup of its own, move its "
                        "descendants (those in the same cgroup) too")
    p.add_argument("--reset", action="store_true",
                   help="undo: restore the recorded original, move moved processes back, "
                        "remove the cgroups nsscope made; refused (nothing changed) when "
                        "someone changed the limit since nsscope set it")
    p.add_argument("--force", action="store_true",
                   help="with --reset: restore the original even over a change made since; "
                        "with LIMIT on cgroup v2: move a process that shares a cgroup out "
                        "of that cgroup's limits (there is no way beneath it)")
    p.add_argument("--watch", action="store_true",
                   help="then show usage and throttling each second; on a terminal ↑/↓ "
                        "change the limit by 5%%, or type one and press Enter; q quits")
    p.add_argument("--interval", type=float, default=1.0, metavar="SECONDS",
                   help="seconds between samples (default 1); without LIMIT, the one "
                        "interval the usage is measured over")
    p.add_argument("--count", type=int, metavar="N",
                   help="with --watch: stop after N samples")
    # LIMIT may be negative ("-5%"): argparse would take it for an option and say
    # "unrecognized arguments"; let it through so parse_limit can say what is wrong
    if hasattr(p, "_negative_number_matcher"):
        p._negative_number_matcher = re.compile(r"^-(\d+\.?\d*|\.\d+)%?$")


def _period(args: argparse.Namespace) -> int:
    return throttle.parse_period(args.period) if args.period else throttle.DEFAULT_PERIOD_USEC


def run(args: argparse.Namespace) -> int:
    roots = roots_of(args)
    if args.reset:
        if args.limit is not None:
            raise BadInput("--reset takes no LIMIT")
        return _reset(args, roots)
    if args.count is not None and args.count < 1:
        raise BadInput("--count must be at least 1")
    if not 0.05 <= args.interval <= 3600:
        raise BadInput("--interval must be between 0.05 and 3600 seconds")
    # every input is checked before anything is looked up or changed
    limit = throttle.parse_limit(args.limit, _period(args)) if args.limit is not None else None
    target = resolve(args.target, roots.proc)
    if limit is not None:
        out = throttle.apply(target, limit, tree=args.tree, roots=roots, force=args.force)
        _print_outcome(out, target)
        cgroup = out.cgroup
    else:
        cgroup = throttle.limited_cgroup(target, roots)
    if args.watch:
        return Watch(target, cgroup, args, roots).run()
    if limit is None:
        # no LIMIT: what binds the target now, as `docker update` users first ask
        # `docker inspect`/`docker stats` (issue 15)
        return _show_current(target, cgroup, args.interval, roots)
    return 0


def _show_current(target: Target, cgroup: str, interval: float, roots) -> int:
    """The limit on ``cgroup`` and its usage over ``interval`` seconds; changes nothing."""
    hst = throttle.host(roots)

    def read() -> tuple[float, CpuStats, throttle.Limit]:
        cg = hst.read(cgroup)
        if cg is None or cg.cpu is None:
            raise NsscopeError(f"cgroup {cgroup} is gone")
        return time.monotonic(), cg.cpu, throttle.current_limit(cg)

    t0, before, _ = read()
    time.sleep(interval)
    t1, after, limit = read()
    r = rates(before, after, t1 - t0, t1)
    print(safe(f"{target.what}: {hst.dir(cgroup)} (cgroup v{hst.version})"))
    print(f"  limit: {limit}")
    of_limit = (f" ({r.usage_of_limit_pct:.1f}% of the limit)"
                if r.usage_of_limit_pct is not None else "")
    usage = "-" if r.usage_pct is None else f"{r.usage_pct:.1f}% of a CPU"
    print(f"  usage: {usage} over {interval:g} s{of_limit}")
    if after.nr_periods:  # never limited: no CFS period has run, nothing to say
        thr = "-" if r.throttled_pct is None else f"{r.throttled_pct:.1f}% of periods"
        ms = "" if r.throttled_ms is None else f", {r.throttled_ms:.0f} ms/s"
        total = "" if after.throttled_usec is None else \
            f", {after.throttled_usec / 1e6:.2f} s in all"
        print(f"  throttled: {thr}{ms} over {interval:g} s; {after.nr_throttled} of "
              f"{after.nr_periods} periods since it was made{total}")
    print(safe(f"change it: nsscope throttle {target.spec} LIMIT (20%, 0.5, max)"))
    return 0


def _gone_pid(text: str) -> int | None:
    """The pid ``text`` gives (PID, pid:PID or pid:PID@START), for a process that exited."""
    text = text.strip().removeprefix("pid:").split("@", 1)[0]
    return int(text) if text.isascii() and text.isdigit() and int(text) > 0 else None


def _reset(args: argparse.Namespace, roots) -> int:
    try:
        target: Target | int = resolve(args.target, roots.proc)
    except BadInput:
        raise
    except NsscopeError:
        pid = _gone_pid(args.target)
        if pid is None:
            raise
        target = pid  # gone: its record can still be undone
    out = throttle.reset(target, roots=roots, force=args.force)
    print(safe(f"{out.dir}:"))
    for c in out.changes:
        print(safe(f"  {c.name}: {c.before} → {c.after}"))
    if out.moved:
        many = len(out.moved) > 1
        print(f"moved pid{'s' if many else ''} {', '.join(map(str, out.moved))} back where "
              f"{'they' if many else 'it'} came from")
    if out.cgroups:
        print(safe(f"removed cgroup{'s' if len(out.cgroups) > 1 else ''} {', '.join(out.cgroups)}"))
    for n in out.notes:
        print(safe(f"note: {n}"))
    return 0


def _print_outcome(out: throttle.Outcome, target: Target) -> None:
    if not out.changes:
        for n in out.notes:
            print(safe(n))
        return
    if out.moved:
        print(safe(out.reason))
    print(safe(f"{out.dir}:"))
    for c in out.changes:
        print(safe(f"  {c.name}: {c.before} → {c.after}"))
    if out.via == "systemctl":
        print(safe("  (set through systemctl set-property --runtime)"))
    for n in out.notes:
        print(safe(f"note: {n}"))
    print(safe(f"limit: {out.limit} for {target.what}; undo: nsscope throttle "
               f"{target.spec} --reset"))


# --- --watch --------------------------------------------------------------------------------

def who(target: Target, roots) -> str:
    """The target in the user's words for the --watch header (issue 15): its container by
    name (labels.title), as `nsscope ps` recognises it, whether the target was given as
    the container or as one of its pids; else the pid."""
    from nsscope.host import labels
    from nsscope.host.collector import collect

    # recognition reads every process, once, before the first sample (as `ps` does)
    snap = collect(roots, namespaces=False, cgroups=False)
    for c in snap.containers:
        if c.sandbox or c.infra:
            continue
        if (target.container_id is not None and c.id == target.container_id) or \
                target.pid in c.pids:
            return f"{labels.title(c)}, pid {target.pid}"
    return f"pid {target.pid}"


@dataclass(frozen=True)
class Sample:
    at: float
    rates: CpuRates
    limit: throttle.Limit
    #: PSI cpu.pressure "some avg10" (the kernel's own 10 s average), where present
    psi_avg10: float | None


def _pct(v: float | None, width: int = 6) -> str:
    return f"{v:{width}.1f}%" if v is not None else f"{'-':>{width + 1}}"


class Watch:
    def __init__(self, target: Target, cgroup: str, args: argparse.Namespace, roots) -> None:
        self.target = target
        self.cgroup = cgroup
        self.args = args
        self.roots = roots
        self.host = throttle.host(roots)
        self.samples: deque[Sample] = deque(maxlen=KEEP)
        self.typed = ""
        self.message = ""
        self._prev: tuple[float, CpuStats] | None = None
        self.who = who(target, roots)

    # sampling

    def _read(self) -> tuple[float, CpuStats, throttle.Limit]:
        cg = self.host.read(self.cgroup)
        if cg is None or cg.cpu is None:
            raise NsscopeError(f"cgroup {self.cgroup} is gone")
        return time.monotonic(), cg.cpu, throttle.current_limit(cg)

    def sample(self) -> Sample | None:
        """Read the cgroup; a Sample once there are two readings."""
        at, cpu, limit = self._read()
        prev, self._prev = self._prev, (at, cpu)
        if prev is None:
            return None
        r = rates(prev[1], cpu, at - prev[0], at)
        s = Sample(at=at, rates=r, limit=limit,
                   psi_avg10=cpu.pressure.some_avg10 if cpu.pressure else None)
        self.samples.append(s)
        return s

    # the loop

    def run(self) -> int:
        chart = sys.stdout.isatty() and sys.stdin.isatty()
        old_term = termios.tcgetattr(sys.stdin.fileno()) if chart else None

        def stop(signum, frame):
            raise KeyboardInterrupt
        previous = signal.signal(signal.SIGTERM, stop)
        try:
            if chart:
                tty.setcbreak(sys.stdin.fileno())
                sys.stdout.write("\x1b[?1049h\x1b[?25l")  # alternate screen, no cursor
            else:
                print(self.header(), flush=True)
            return self._loop(chart)
        except KeyboardInterrupt:
            return 0
        finally:
            signal.signal(signal.SIGTERM, previous)
            if chart:
                sys.stdout.write("\x1b[?25h\x1b[?1049l")
                sys.stdout.flush()
                termios.tcsetattr(sys.stdin.fileno(), termios.TCSADRAIN, old_term)  # type: ignore[arg-type]
                if self.samples:
                    print(self.line(self.samples[-1]))

    def _loop(self, chart: bool) -> int:
        interval = self.args.interval
        count = self.args.count
        self.sample()
        due = time.monotonic() + interval
        shown = 0
        if chart:
            self.draw()
        while True:
            now = time.monotonic()
            if now >= due:
                s = self.sample()
                due += interval
                if due < now:  # fell behind (suspended): start again from now
                    due = now + interval
                if s is not None:
                    shown += 1
                    if chart:
                        self.draw()
                    else:
                        print(self.line(s), flush=True)
                if count is not None and shown >= count:
                    return 0
                continue
            if not chart:
                time.sleep(due - now)
                continue
            ready, _, _ = select.select([sys.stdin], [], [], due - now)
            if ready:
                data = os.read(sys.stdin.fileno(), 64)
                if not data or self.key(data) is False:
                    return 0
                self.draw()

    def key(self, data: bytes) -> bool:
        """Handle what the terminal sent (several keys may come in one read); False to quit."""
        i = 0
        while i < len(data):
            if data[i] == 0x1B:  # ESC [ or ESC O and a final byte (ECMA-48 CSI/SS3), or Esc
                j = i + 1
                if j < len(data) and data[j] in b"[O":
                    j += 1
                    while j < len(data) and not 0x40 <= data[j] <= 0x7E:
                        j += 1
                    seq = data[i:j + 1]
                    i = j + 1
                else:
                    seq, i = data[i:i + 1], i + 1  # a lone Esc (a q right after it still quits)
                self.typed = ""  # Esc, or any other key sequence, clears a half-typed value
                if seq in _UP or seq in _DOWN:
                    step = STEP if seq in _UP else -STEP
                    self.change(throttle.stepped(self._limit_now(), step))
                continue
            ch = chr(data[i])
            i += 1
            if ch in "qQ" and not self.typed:
                return False
            if ch in "\r\n":
                text, self.typed = self.typed.strip(), ""
                if text:
                    try:
                        self.change(throttle.parse_limit(text, self._limit_now().period_usec))
                    except NsscopeError as e:
                        self.message = str(e)
            elif ch in "\x7f\b":
                self.typed = self.typed[:-1]
            elif ch.isascii() and ch.isprintable():
                self.typed += ch
        return True

    def _limit_now(self) -> throttle.Limit:
        return self._read()[2]

    def change(self, limit: throttle.Limit) -> None:
        try:
            out = throttle.apply(self.target, limit, tree=self.args.tree, roots=self.roots)
        except NsscopeError as e:
            self.message = str(e)
            return
        self.cgroup = out.cgroup
        self.message = "; ".join(f"{c.name}: {c.before} → {c.after}" for c in out.changes
                                 if c.before != c.after) or f"limit stays {limit}"

    # output

    def header(self) -> str:
        return (f"# {safe(self.who)} in {safe(self.cgroup)} (cgroup v{self.host.version}), "
                f"one line per "
                f"{self.args.interval:g} s\n"
                f"{'TIME':8} {'USAGE':>7} {'OF-LIMIT':>8} {'LIMIT':>7} {'THROTTLED':>9} "
                f"{'THR-TIME':>9} {'PSI-SOME10':>10}")

    def line(self, s: Sample) -> str:
        r = s.rates
        limit = f"{s.limit.percent:.0f}%" if s.limit.percent is not None else "max"
        thr = f"{r.throttled_ms:.0f}ms/s" if r.throttled_ms is not None else "-"
        psi = f"{s.psi_avg10:.2f}" if s.psi_avg10 is not None else "-"
        return (f"{time.strftime('%H:%M:%S')} {_pct(r.usage_pct)} {_pct(r.usage_of_limit_pct, 7)} "
                f"{limit:>7} {_pct(r.throttled_pct, 8)} {thr:>9} {psi:>10}")

    def draw(self) -> None:
        import plotext as plt

        cols, rows = shutil.get_terminal_size((100, 30))
        latest = self.samples[-1] if self.samples else None
        limit = latest.limit if latest else self._limit_now()
        out = ["\x1b[H\x1b[2J",
               f"nsscope throttle: {safe(self.who)} in {safe(self.cgroup)} "
               f"(cgroup v{self.host.version})   limit {limit}\n"]
        if latest is not None:
            r = latest.rates
            psi = f"{latest.psi_avg10:.2f}" if latest.psi_avg10 is not None else "-"
            thr = f"{r.throttled_ms:.0f} ms/s" if r.throttled_ms is not None else "-"
            out.append(f"usage {_pct(r.usage_pct, 0)} of a CPU   "
                       f"{_pct(r.usage_of_limit_pct, 0)} of the limit   throttled "
                       f"{_pct(r.throttled_pct, 0)} of periods, {thr}   PSI some avg10 {psi}\n")
        if len(self.samples) >= 2 and rows > 12:
            t0 = self.samples[-1].at
            xs = [s.at - t0 for s in self.samples]
            usage = [s.rates.usage_pct or 0.0 for s in self.samples]
            lim = [s.limit.percent if s.limit.percent is not None else float("nan")
                   for s in self.samples]
            thr_pct = [s.rates.throttled_pct or 0.0 for s in self.samples]
            top = max([100.0, *usage, *[x for x in lim if x == x]]) * 1.15
            plt.clear_figure()
            plt.plotsize(max(40, cols - 1), max(8, rows - 7))
            plt.theme("clear")
            plt.plot(xs, usage, label="usage % of a CPU", marker="braille", color="cyan")
            if any(x == x for x in lim):
                plt.plot(xs, lim, label="limit %", marker="braille", color="red")
            plt.plot(xs, thr_pct, label="throttled % of periods", marker="braille",
                     color="yellow")
            plt.ylim(0, top)
            plt.xlabel("seconds (0 = now)")
            out.append(plt.build() + "\n")
        else:
            out.append("(collecting…)\n")
        if self.message:
            out.append(safe(self.message)[: cols - 1] + "\n")
        prompt = f"new limit: {self.typed}_" if self.typed else "type a limit + Enter"
        out.append(f"↑/↓ ±{STEP:g}%   {prompt} (20%, 0.5, max)   q quit")
        sys.stdout.write("".join(out))
        sys.stdout.flush()

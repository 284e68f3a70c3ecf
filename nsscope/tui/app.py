"""``nsscope`` with no command: the Textual app.

The app owns the collector thread (a thread worker that samples the host
once a second and posts each ``Frame`` as a message), the history of CPU
rates, and the runners of the actions. What is on screen is the
``MainScreen``'s business.
"""

from __future__ import annotations

import argparse
import gc
import os
import signal
import subprocess
import sys
import threading
import time
from typing import ClassVar
from collections.abc import Callable

from textual.css.query import NoMatches
from textual import work
from textual.app import App, SuspendNotSupported
from textual.binding import Binding, BindingType
from textual.worker import get_current_worker

from nsscope.host.collector import roots_of
from nsscope.errors import NsscopeError
from nsscope.host.history import CpuRates, History, snapshot_rates
from nsscope.kernel import tty
from nsscope.tui import actions
from nsscope.tui.frame import Frame
from nsscope.tui.messages import (ActionDone, ActionProgress, ActionRequested, EnterRequested,
                                  FrameReady, StopRequested)
from nsscope.tui.screens.help import HelpScreen
from nsscope.tui.screens.main import MainScreen
from nsscope.tui.source import FixedSource, LiveSource

#: runs an interactive command on the terminal, returns its exit status
Runner = Callable[[list[str]], int]
#: runs a command, returns (exit status, its output)
Capture = Callable[[list[str]], "tuple[int, str]"]


def run_on_terminal(argv: list[str]) -> int:
    """Its exit status as a shell tells it: 128+N when signal N ended it."""
    rc = subprocess.run(argv, check=False).returncode
    return 128 - rc if rc < 0 else rc


def run_captured(argv: list[str]) -> tuple[int, str]:
    p = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                       timeout=120, check=False)
    return p.returncode, (p.stdout + p.stderr).strip()


class NsscopeApp(App[int]):
    CSS_PATH = "nsscope.tcss"
    TITLE = "nsscope"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("q", "quit", "Quit", id="nsscope.quit"),
        Binding("question_mark", "help", "Help", key_display="?", id="nsscope.help"),
    ]

    def __init__(self, source: LiveSource | FixedSource, *, interval: float = 1.0,
                 span: float = 300.0, runner: Runner = run_on_terminal,
                 capture: Capture = run_captured, euid: int | None = None) -> None:
        super().__init__()
        self.source = source
        self.interval = interval
        self.history = History(span)
        self.runner = runner
        self.capture = capture
        #: why actions are off (None: they are on)
        self.read_only = actions.read_only_reason(source.is_host, euid)
        #: seconds k waits for SIGTERM to work before SIGKILL
        self.stop_grace = actions.STOP_GRACE
        self.frame: Frame | None = None
        #: the processes whose CPU %, memory and I/O the next frames carry (the process
        #: list on screen sets them; the collector thread reads them): only of this host
        #: now, never of a scenario or a recording
        self.usage_pids: tuple[int, ...] = ()
        self.usage_reader = None
        if source.is_host and source.live:
            from nsscope.host.usage import UsageReader  # psutil: ~20 ms, the live host only
            self.usage_reader = UsageReader()
        self._frozen = False
        self._wake = threading.Event()
        self._stopping = False

    @property
    def main(self) -> MainScreen:
        for screen in self.screen_stack:
            if isinstance(screen, MainScreen):
                return screen
        raise LookupError("no main screen")

    def on_mount(self) -> None:
        self.push_screen(MainScreen(self.history, self.read_only))
        self.collect()

    def on_unmount(self) -> None:
        self._stopping = True
        self._wake.set()

    # --- the collector thread

    @work(thread=True, exclusive=True, group="collector", name="collector")
    def collect(self) -> None:
        """Sample, compute rates, post a frame; once a second (or when woken)."""
        worker = get_current_worker()
        prev = None
        seq = 0
        while not worker.is_cancelled and not self._stopping:
            started = time.monotonic()
            try:
                snap = self.source.sample()
            except NsscopeError as e:
                self.call_from_thread(self.notify, str(e), severity="error", markup=False)
                snap = None if not self.source.live else prev
            if snap is None:
                return
            rates: dict[str, CpuRates] = snapshot_rates(prev, snap) if prev is not None else {}
            self.history.add(rates)
            seq += 1
            usage = self.usage_reader.read(self.usage_pids) \
                if self.usage_reader is not None else None
            self.post_message(FrameReady(Frame.of(snap, rates, seq, usage)))
            prev = snap
            if self.source.live:
                self._wake.wait(max(0.0, self.interval - (time.monotonic() - started)))
                self._wake.clear()

    def wake(self, pids: tuple[int, ...] = ()) -> None:
        """Sample again now, re-reading these processes (an action changed them)."""
        self.source.refresh(pids)
        self._wake.set()

    def on_frame_ready(self, message: FrameReady) -> None:
        self.frame = message.frame
        try:
            main = self.main
        except LookupError:
            return
        try:
            main.show_frame(message.frame)
        except NoMatches:
            # the main screen's widgets are composed once and never removed: one
            # is missing only when a frame arrives while the app shuts down and
            # unmounts them, and then there is nothing left to show it on
            return
        if not self._frozen:
            # the app is up and its first frame shown: what exists now (Textual,
            # the widgets, the first snapshot) lives as long as the app, so the
            # garbage collector is told not to walk it again (gc.freeze). Measured
            # at 1,000 processes: its full collections, ~160 ms each over ~110,000
            # objects, were half of the TUI's CPU time.
            gc.freeze()
            self._frozen = True

    # --- actions

    def on_enter_requested(self, message: EnterRequested) -> None:
        self.enter(message.plan)

    def on_action_requested(self, message: ActionRequested) -> None:
        self.run_plan(message.what, message.plan)

    def enter(self, plan: actions.Invocation) -> None:
        """Suspend, run `nsscope enter …` on the terminal, resume and refresh.

        The terminal is handed over with Textual's own suspend (it stops the input
        and writer threads and restores the modes the app found); around the
        command its foreground process group and modes are taken back whatever
        happened (nsscope/kernel/tty.py): a shell in a container's pid namespace
        cannot give the group back itself, and one killed with SIGKILL gives
        nothing back. Without that, resuming would stop the app on SIGTTOU. A
        terminal closed meanwhile ends the app, as it would have had it not
        handed the terminal over.
        """
        assert plan.argv is not None
        argv = plan.argv
        try:
            with self.suspend():
                term = tty.claim(sys.__stdin__.fileno()) if sys.__stdin__ else None
                try:
                    rc = self.runner(argv)
                finally:
                    if term is not None:
                        tty.take_back(term)
                if term is not None and tty.hung_up(term):
                    # the terminal closed while the command had it: end as the
                    # kernel's SIGHUP would have ended us had we been in the
                    # foreground (Textual would spin on a dead terminal's EIO)
                    signal.raise_signal(signal.SIGHUP)
        except SuspendNotSupported:
            self.notify("this terminal cannot be handed over (suspend is not supported)",
                        severity="error", markup=False)
            return
        self.last_enter = (argv, rc)
        self.notify(f"back from {plan.what} (exit status {rc})",
                    severity="information" if rc == 0 else "warning", markup=False)
        self.wake(plan.pids)

    def run_plan(self, what: str, plan: actions.Invocation) -> None:
        if plan.argv is None:
            self.notify(plan.why, title="not available", severity="warning", markup=False)
            return
        self.notify(f"{what}: {plan.what} …", markup=False, timeout=2)
        self._run_action(what, plan)

    @work(thread=True, group="actions")
    def _run_action(self, what: str, plan: actions.Invocation) -> None:
        assert plan.argv is not None
        try:
            rc, out = self.capture(plan.argv)
        except (OSError, subprocess.SubprocessError) as e:
            rc, out = 1, str(e)
        self.post_message(ActionDone(what, plan.argv, rc, out))
        self.wake(plan.pids)

    def on_stop_requested(self, message: StopRequested) -> None:
        self.notify(f"stop: {message.plan.what} …", markup=False, timeout=2)
        self._stop(message.plan)

    def _main_alive(self, main: tuple[int, int]) -> bool:
        """Whether the process (pid, start time) is in the latest frame (the collector
        is woken to re-read it: the TUI reads no /proc of its own)."""
        frame = self.frame
        p = frame.process(main[0]) if frame is not None else None
        return p is not None and p.starttime == main[1]

    def _frame_after(self, seq: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not self._stopping:
            frame = self.frame
            if frame is not None and frame.seq > seq:
                return
            time.sleep(0.05)

    @work(thread=True, group="actions")
    def _stop(self, plan: actions.Invocation) -> None:
        """k: SIGTERM, wait for PID 1 (saying so), then stop, or kill when it ignored
        SIGTERM (a PID 1 without a handler does: signal(7), the init's protection)."""
        term, stop, kill = actions.stop_steps(plan)
        what = plan.what
        try:
            rc, out = self.capture(term)
        except (OSError, subprocess.SubprocessError) as e:
            rc, out = 1, str(e)
        if rc != 0:
            self.post_message(ActionDone("stop", term, rc, out))
            return
        started = time.monotonic()
        self.post_message(ActionProgress("stop", f"{what}: SIGTERM sent to its PID 1"))
        said_waiting = False
        alive = plan.main is not None
        while alive and not self._stopping:
            seq = self.frame.seq if self.frame is not None else 0
            self.wake(plan.pids)
            self._frame_after(seq, 2.0)
            alive = self._main_alive(plan.main)  # type: ignore[arg-type]
            waited = time.monotonic() - started
            if not alive or waited >= self.stop_grace:
                break
            if not said_waiting and waited >= min(1.0, self.stop_grace / 2):
                said_waiting = True
                left = self.stop_grace - waited
                self.post_message(ActionProgress(
                    "stop", f"{what}: PID 1 has not exited on SIGTERM; waiting "
                            f"{left:.0f} s more, then SIGKILL", "warning"))
            time.sleep(0.25)
        argv = kill if alive else stop
        try:
            rc, out = self.capture(argv)
        except (OSError, subprocess.SubprocessError) as e:
            rc, out = 1, str(e)
        if rc == 0:
            waited = time.monotonic() - started
            out = (f"killed {what} (SIGKILL): its PID 1 ignored SIGTERM for {waited:.0f} s"
                   if alive else f"stopped {what}: its PID 1 exited on SIGTERM")
        self.post_message(ActionDone("stop", argv, rc, out))
        self.wake(plan.pids)

    def on_action_progress(self, message: ActionProgress) -> None:
        self.notify(message.text, title=message.what, markup=False,
                    severity=message.severity)  # type: ignore[arg-type]

    def on_action_done(self, message: ActionDone) -> None:
        self.last_action = message
        first = message.output.splitlines()[0] if message.output else ""
        if message.ok:
            self.notify(message.output or f"{message.what}: done", title=message.what,
                        markup=False)
        else:
            self.notify(first or f"exit status {message.returncode}",
                        title=f"{message.what} failed", severity="error", markup=False)

    def action_help(self) -> None:
        keys = [(b.key_display or b.key, b.description)
                for screen in (self.main, self) for b in screen.BINDINGS
                if isinstance(b, Binding) and b.show]
        keys.append(("ctrl+p", "command palette"))
        keys.append(("enter / arrows", "expand and move in the tree"))
        self.push_screen(HelpScreen(keys))


def run(args: argparse.Namespace) -> int:
    """Entry point from cli.py: `nsscope` with no command."""
    roots = roots_of(args)
    for path in (roots.proc, roots.cgroup):
        if not os.path.isdir(path):
            raise NsscopeError(f"no such directory: {path}")
    app = NsscopeApp(LiveSource(roots))
    app.run()
    return app.return_code or 0

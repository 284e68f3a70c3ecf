"""``nsscope --from FILE``: the TUI on a recording, with a time cursor.

The same app, screen and views as live; only where the frames come from differs:
a ``ReplaySource`` reads the recording (host/recording/reader.py) at the cursor,
and the history the plots draw is the recorded one up to the cursor. ←/→ move one
sample, [ and ] a minute, g and G to the start and the end. Actions that change
the host (e, t, r, k) are off: the recording is not the host now.
"""

from __future__ import annotations

import os
from bisect import bisect_left, bisect_right
from typing import ClassVar

from textual import work
from textual.binding import Binding, BindingType
from textual.worker import get_current_worker

from nsscope.host.history import CpuRates
from nsscope.host.model import Snapshot
from nsscope.host.recording.reader import Recording, open_recording, stamp
from nsscope.tui.app import NsscopeApp
from nsscope.tui.frame import Frame
from nsscope.tui.messages import FrameReady

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable


class ReplaySource:
    """A recording, at a cursor (an index in its samples)."""

    live = False
    is_host = False

    def __init__(self, recording: Recording, at: str | None = None, span: float = 300.0) -> None:
        self.recording = recording
        self.span = span
        self.cursor = recording.index_at(at)
        self._ats = [s.at for s in recording.samples]

    def __len__(self) -> int:
        return len(self._ats)

    def move(self, samples: int) -> None:
        self.cursor = max(0, min(len(self._ats) - 1, self.cursor + samples))

    def jump(self, seconds: float) -> None:
        """To the sample ``seconds`` away in time (at least one sample away)."""
        here = self._ats[self.cursor]
        if seconds > 0:
            i = bisect_left(self._ats, here + seconds)
            self.cursor = min(max(i, self.cursor + 1), len(self._ats) - 1)
        else:
            i = bisect_right(self._ats, here + seconds) - 1
            self.cursor = max(min(i, self.cursor - 1), 0)

    def edge(self, end: bool) -> None:
        self.cursor = len(self._ats) - 1 if end else 0

    def moment(self) -> tuple[Snapshot, list[dict[str, CpuRates]], str]:
        """The snapshot at the cursor, the rates of every sample in the span up to it
        (oldest first; the last are the cursor's), and what the status line says."""
        i = self.cursor
        r = self.recording
        lo = bisect_left(self._ats, self._ats[i] - self.span)
        rounds = r.rates_between(lo - 1 if lo > 0 else 0, i)
        what = (f"recording {os.path.basename(r.path)} at {stamp(self._ats[i])} "
                f"({i + 1}/{len(self._ats)})")
        return r.snapshot(i), rounds, what

    def sample(self) -> Snapshot | None:
        return self.recording.snapshot(self.cursor)

    def refresh(self, pids: Iterable[int] = ()) -> None:
        pass


class ReplayApp(NsscopeApp):
    """The app on a ``ReplaySource``: a frame per cursor position, no action."""

    BINDINGS: ClassVar[list[BindingType]] = [
        *NsscopeApp.BINDINGS,
        Binding("left", "step(-1)", "Earlier", key_display="←", id="nsscope.replay.back"),
        Binding("right", "step(1)", "Later", key_display="→", id="nsscope.replay.forward"),
        Binding("left_square_bracket", "jump(-60)", "-1 min", key_display="[",
                id="nsscope.replay.minute_back"),
        Binding("right_square_bracket", "jump(60)", "+1 min", key_display="]",
                id="nsscope.replay.minute_forward"),
        Binding("g", "edge(False)", "Start", id="nsscope.replay.start"),
        Binding("G", "edge(True)", "End", id="nsscope.replay.end"),
    ]

    def __init__(self, source: ReplaySource, **kwargs) -> None:
        super().__init__(source, span=source.span, **kwargs)  # type: ignore[arg-type]
        self.replay = source
        self.read_only = (f"read-only: this is a recording ({source.recording.path}), not the "
                          "host now")

    @work(thread=True, exclusive=True, group="collector", name="collector")
    def collect(self) -> None:
        """A frame for each cursor position, made when the cursor moves."""
        worker = get_current_worker()
        seq = 0
        shown = None
        while not worker.is_cancelled and not self._stopping:
            i = self.replay.cursor
            if i != shown:
                snap, rounds, what = self.replay.moment()
                self.history.replace(rounds)
                seq += 1
                self.post_message(FrameReady(Frame.of(snap, rounds[-1] if rounds else {}, seq,
                                                      moment=what)))
                shown = i
            self._wake.wait(1.0)
            self._wake.clear()

    def action_step(self, samples: int) -> None:
        self.replay.move(samples)
        self._wake.set()

    def action_jump(self, seconds: float) -> None:
        self.replay.jump(seconds)
        self._wake.set()

    def action_edge(self, end: bool) -> None:
        self.replay.edge(end)
        self._wake.set()


def run_replay(path: str, at: str | None = None) -> int:
    """``nsscope --from FILE [--at TIME]``."""
    source = ReplaySource(open_recording(path), at)
    app = ReplayApp(source)
    app.run()
    return app.return_code or 0

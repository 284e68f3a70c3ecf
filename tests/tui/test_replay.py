"""The TUI on a recording (``nsscope --from FILE``, tui/replay.py), driven with Pilot: the
captured v2 tree's scenario (a docker container throttled from second 30) written
to a recording one sample a second, then replayed with the time cursor."""

from __future__ import annotations

from textual.widgets import Static

from nsscope.host.history import snapshot_rates
from nsscope.host.recording.reader import Recording
from nsscope.host.recording.writer import Writer
from nsscope.tui.dev import scenario
from nsscope.tui.replay import ReplayApp, ReplaySource

from support import V2_FIXTURE
from support.tui import messages, until

SIZE = (160, 48)
DOCKER = ("/system.slice/docker-"
          "4f1c2a9e8b7d6c5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e.scope")


def _recording(tmp_path, seconds: int = 90):
    snaps = scenario.frames(V2_FIXTURE, seconds, throttle_at=30)
    path = str(tmp_path / "scenario.db")
    w = Writer(path, interval=1)
    for i, s in enumerate(snaps):
        w.add(s, at=1_000_000.0 + i)
    w.close()
    return path, snaps


def _status(app) -> str:
    return str(app.main.query_one("#status", Static).render())


async def test_the_cursor_moves_through_the_recording(tmp_path):
    path, snaps = _recording(tmp_path)
    n = len(snaps)
    app = ReplayApp(ReplaySource(Recording(path)))
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.frame is not None, what="the first frame")
        assert "recording scenario.db at " in _status(app) and f"({n}/{n})" in _status(app)
        # the frame at the end: the rates the live code computes between the last two
        assert dict(app.frame.rates) == snapshot_rates(snaps[-2], snaps[-1])
        # the plots' history: the recorded rates up to the cursor (300 s span: all)
        assert len(app.history.series(DOCKER)) == n - 1
        await pilot.press("left")
        await until(pilot, lambda: f"({n - 1}/{n})" in _status(app), what="one sample back")
        assert dict(app.frame.rates) == snapshot_rates(snaps[-3], snaps[-2])
        assert len(app.history.series(DOCKER)) == n - 2
        await pilot.press("left_square_bracket")
        await until(pilot, lambda: f"({n - 61}/{n})" in _status(app), what="a minute back")
        await pilot.press("g")
        await until(pilot, lambda: f"(1/{n})" in _status(app), what="the start")
        assert app.frame.rates == {} and len(app.history.series(DOCKER)) == 0
        await pilot.press("right")
        await until(pilot, lambda: f"(2/{n})" in _status(app), what="one sample on")
        await pilot.press("right_square_bracket")
        await until(pilot, lambda: f"(62/{n})" in _status(app), what="a minute on")
        await pilot.press("G")
        await until(pilot, lambda: f"({n}/{n})" in _status(app), what="the end")
        # throttled from second 30: at the end, not at the start
        assert app.frame.rates[DOCKER].throttled_pct > 50


async def test_actions_that_change_the_host_are_off(tmp_path):
    path, _ = _recording(tmp_path, seconds=5)
    app = ReplayApp(ReplaySource(Recording(path)))
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.frame is not None, what="the first frame")
        for key in ("e", "t", "r", "k"):
            await pilot.press(key)
            await until(pilot, lambda: any("this is a recording" in m for m in messages(app)),
                        what=f"{key} refused")
            app.clear_notifications()
            await pilot.pause(0.05)


async def test_at_places_the_cursor(tmp_path):
    path, snaps = _recording(tmp_path, seconds=10)
    r = Recording(path)
    source = ReplaySource(r, "start")
    assert source.cursor == 0
    source.jump(5)
    assert source.cursor == 5
    source.move(100)
    assert source.cursor == len(snaps) - 1
    source.jump(-3)
    assert source.cursor == len(snaps) - 4

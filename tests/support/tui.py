"""Driving the TUI with Pilot."""

from __future__ import annotations

import time

from textual.widgets import Static

from nsscope.tui.app import NsscopeApp

SIZE = (160, 48)


async def until(pilot, pred, timeout: float = 20.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        await pilot.pause(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def summary(app: NsscopeApp) -> str:
    return str(app.main.query_one("#summary", Static).render())


def messages(app: NsscopeApp) -> list[str]:
    return [n.message for n in app._notifications]


async def follow_when_seen(pilot, app: NsscopeApp, pid: int, what: str, view: str | None = None):
    """Wait until ``pid`` is in a frame, switch to ``view`` (its key: "3" the cgroups)
    if given, and put the cursor on ``pid`` for good (follow)."""
    await until(pilot, lambda: app.frame is not None and pid in app.frame.snapshot.processes,
                what=what)
    if view is not None:
        await pilot.press(view)
    app.main.follow(pid)
    await pilot.pause()

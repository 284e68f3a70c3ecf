"""Asks which pid to follow (the tree keeps the cursor on it from frame to frame)."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Static


class FollowDialog(ModalScreen[int | None]):
    """Returns a pid, 0 to stop following, or None when cancelled."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "cancel", id="nsscope.follow.cancel")]

    def __init__(self, pid: int | None) -> None:
        super().__init__()
        self.pid = pid

    def compose(self) -> ComposeResult:
        with Vertical(id="follow-box"):
            yield Static("Follow pid (empty: stop following)", markup=False)
            yield Input("" if self.pid is None else str(self.pid), id="follow-pid",
                        type="integer", placeholder="pid")

    def action_cancel(self) -> None:
        self.dismiss(None)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        text = event.value.strip()
        if not text:
            self.dismiss(0)
            return
        try:
            pid = int(text)
        except ValueError:
            self.notify(f"not a pid: {text}", severity="error", markup=False)
            return
        if pid <= 0:
            self.notify("pids start at 1", severity="error", markup=False)
            return
        self.dismiss(pid)

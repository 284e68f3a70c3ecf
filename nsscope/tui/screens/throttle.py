"""The throttle dialog: a CPU limit to apply, changed by typing or by ±5 % keys."""

from __future__ import annotations

from typing import ClassVar

import re

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Static

from nsscope.printable import safe

STEP = 5


def step(value: str, delta: int) -> str:
    """'20%' +5 -> '25%'; a CPU count ('0.5') steps as 50 %; 'max' starts from 100 %."""
    v = value.strip().lower()
    m = re.fullmatch(r"(\d+(?:\.\d+)?)\s*%", v)
    if m:
        now = float(m.group(1))
    elif re.fullmatch(r"\d+(?:\.\d+)?", v):
        now = float(v) * 100
    else:
        now = 100.0
    new = max(STEP, round((now + delta) / STEP) * STEP)
    return f"{new}%"


class ThrottleDialog(ModalScreen[str | None]):
    """Returns the value typed (for `nsscope throttle TARGET VALUE`) or None."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up", "step(5)", "+5 %", id="nsscope.actions.throttle.up"),
        Binding("down", "step(-5)", "-5 %", id="nsscope.actions.throttle.down"),
        Binding("escape", "cancel", "cancel", id="nsscope.actions.throttle.cancel"),
    ]

    def __init__(self, what: str, current: str) -> None:
        super().__init__()
        self.what = what
        self.current = current

    def compose(self) -> ComposeResult:
        with Vertical(id="throttle-box"):
            title = Text("Throttle ", style="bold")
            title.append(safe(self.what))
            yield Static(title, id="throttle-title", markup=False)
            yield Input(self.current, id="throttle-value",
                        placeholder="20% (of one CPU), 0.5 (CPUs) or max")
            yield Static("up/down: ±5 %   enter: apply   escape: cancel   "
                         "max: remove the limit", id="throttle-help", markup=False)

    def action_step(self, delta: int) -> None:
        field = self.query_one("#throttle-value", Input)
        field.value = step(field.value, delta)
        field.cursor_position = len(field.value)

    def action_cancel(self) -> None:
        self.dismiss(None)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        value = event.value.strip()
        self.dismiss(value or None)

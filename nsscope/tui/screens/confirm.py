"""Asks before an action that changes the host (r resets a limit, k stops a container):
what it will do, to what, and the command it runs; y does it, n or escape does not."""

from __future__ import annotations

import shlex
from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Static

from nsscope.printable import safe


class ConfirmDialog(ModalScreen[bool]):
    """Returns True (y) or False (n, escape)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y", "answer(True)", "yes", id="nsscope.confirm.yes"),
        Binding("n,escape", "answer(False)", "no", id="nsscope.confirm.no"),
    ]

    def __init__(self, question: str, what: str, argv: list[str], note: str = "") -> None:
        super().__init__()
        self.question = question
        self.what = what
        self.argv = argv
        self.note = note

    def compose(self) -> ComposeResult:
        with Vertical(id="confirm-box"):
            title = Text(f"{self.question} ", style="bold")
            title.append(safe(self.what), style="bold magenta")
            title.append("?", style="bold")
            yield Static(title, id="confirm-title", markup=False)
            if self.note:
                yield Static(Text(self.note), id="confirm-note", markup=False)
            # the command as a user would type it (the interpreter shown as nsscope)
            shown = ["nsscope", *self.argv[3:]] if self.argv[1:3] == ["-m", "nsscope"] \
                else self.argv
            yield Static(Text(safe(shlex.join(shown)), style="dim"), id="confirm-argv",
                         markup=False)
            yield Static(Text("y: yes   n or escape: no"), id="confirm-help", markup=False)

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)

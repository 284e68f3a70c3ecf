"""`?`: the keys and what the panes show."""

from __future__ import annotations

from typing import ClassVar

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

NOTES = (
    "Left: Containers (runtime → container by name → processes; isolated processes of no "
    "runtime are 'sandboxes'), Namespaces (user-namespace tree → the namespaces each owns, "
    "with the containers living in them → processes; namespaces kept alive by a bind mount "
    "or an fd are listed too), Cgroups (a container's cgroup by the container's name; CPU % "
    "of one CPU, the limit, the share of CFS periods throttled, ↑ when a limited ancestor "
    "throttles it). Kernel threads are folded into one row: enter or K unfolds. s sorts the "
    "most throttled subtrees first, as nsscope top does.\n"
    "Right: the selection's cgroup, figures and limits; its namespaces ('host' = shared with "
    "the host) and its processes, two boxes (hidden below 40 rows, where the plot keeps its "
    "room); plots of the last 5 minutes, each line averaged over 3 s, the legend with the "
    "latest values (only the visible tab is drawn).\n"
    "Actions run the CLI: e → nsscope enter TARGET -- $SHELL, t → nsscope throttle TARGET "
    "VALUE, r → nsscope throttle TARGET --reset, k → SIGTERM to the container's PID 1, then "
    "nsscope stop, or SIGKILL (nsscope stop -t 0) after 10 s. r and k ask first. They need "
    "root."
)


class HelpScreen(ModalScreen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,question_mark", "close", "close", id="nsscope.help.close")]

    def __init__(self, keys: list[tuple[str, str]]) -> None:
        super().__init__()
        self.keys = keys

    def compose(self) -> ComposeResult:
        table = Table(box=None, show_header=False, padding=(0, 2))
        table.add_column(style="bold cyan", no_wrap=True)
        table.add_column()
        for key, what in self.keys:
            table.add_row(Text(key), Text(what))
        with VerticalScroll(id="help-box"):
            yield Static(Text("nsscope — keys", style="bold"), markup=False)
            yield Static(table)
            yield Static(Text(NOTES, style="dim"), markup=False)

    def action_close(self) -> None:
        self.dismiss(None)

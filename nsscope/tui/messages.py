"""Messages the collector thread and the action runners post to the app."""

from __future__ import annotations

from textual.message import Message

from nsscope.tui.actions import Invocation
from nsscope.tui.frame import Frame


class FrameReady(Message):
    """A new frame from the collector thread.

    A newer frame supersedes one still waiting in the queue (toolong's
    pattern): when the UI falls behind it draws the latest, never a backlog.
    The history of rates is kept by the collector, so nothing is lost.
    """

    def __init__(self, frame: Frame) -> None:
        super().__init__()
        self.frame = frame

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, FrameReady)


class EnterRequested(Message):
    """The main screen asks the app to hand the terminal to ``nsscope enter``."""

    def __init__(self, plan: Invocation) -> None:
        super().__init__()
        self.plan = plan


class ActionRequested(Message):
    """The main screen asks the app to run an action (throttle, reset, stop)."""

    def __init__(self, what: str, plan: Invocation) -> None:
        super().__init__()
        self.what = what
        self.plan = plan


class ActionDone(Message):
    """An action subprocess (throttle, reset, stop) finished."""

    def __init__(self, what: str, argv: list[str], returncode: int, output: str) -> None:
        super().__init__()
        self.what = what
        self.argv = argv
        self.returncode = returncode
        self.output = output

    @property
    def ok(self) -> bool:
        return self.returncode == 0


class StopRequested(Message):
    """The main screen asks the app to stop a container (k, confirmed)."""

    def __init__(self, plan: Invocation) -> None:
        super().__init__()
        self.plan = plan


class ActionProgress(Message):
    """An action under way says where it is ("SIGTERM sent", "waiting")."""

    def __init__(self, what: str, text: str, severity: str = "information") -> None:
        super().__init__()
        self.what = what
        self.text = text
        self.severity = severity

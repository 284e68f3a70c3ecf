"""The main screen: the three trees on the left, details and plots of the selection on the right."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Footer, Input, Static, TabbedContent, TabPane, Tree

from nsscope.host.history import History
from nsscope.tui import actions
from nsscope.tui.commands import NsscopeCommands
from nsscope.tui.messages import ActionRequested, EnterRequested, StopRequested
from nsscope.tui.frame import Frame
from nsscope.tui.outlines import NO_REF, OUTLINES, Ref
from nsscope.tui.outlines.labels import count
from nsscope.tui.selection import subject_of, title_of
from nsscope.tui.screens.confirm import ConfirmDialog
from nsscope.tui.screens.follow import FollowDialog
from nsscope.tui.screens.throttle import ThrottleDialog
from nsscope.tui.widgets.details import Details
from nsscope.tui.widgets.host_tree import HostTree
from nsscope.tui.widgets.plots import PLOTS, PlotPanel

class MainScreen(Screen[None]):
    COMMANDS = Screen.COMMANDS | {NsscopeCommands}
    #: below 40 rows (80x24) the details' tables give way to the plot (nsscope.tcss)
    VERTICAL_BREAKPOINTS = [(0, "-short"), (40, "-tall")]  # noqa: RUF012 (Textual's type)
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("1", "view('containers')", "Containers", id="nsscope.view.containers"),
        Binding("2", "view('namespaces')", "Namespaces", id="nsscope.view.namespaces"),
        Binding("3", "view('cgroups')", "Cgroups", id="nsscope.view.cgroups"),
        Binding("slash", "filter", "Filter", key_display="/", id="nsscope.filter"),
        Binding("f", "follow", "Follow", id="nsscope.follow"),
        Binding("F", "follow_ask", "Follow a pid…", show=False, id="nsscope.follow.ask"),
        Binding("s", "sort", "Sort by throttling", id="nsscope.sort"),
        Binding("K", "kernel_threads", "Kernel threads", key_display="K",
                id="nsscope.kthreads"),
        Binding("p", "next_plot", "Plot", id="nsscope.plot"),
        Binding("e", "enter", "Enter", id="nsscope.actions.enter"),
        Binding("t", "throttle", "Throttle", id="nsscope.actions.throttle"),
        Binding("r", "reset", "Reset", id="nsscope.reset"),
        Binding("k", "stop", "Stop", id="nsscope.stop"),
        Binding("escape", "clear_filter", "Clear filter", show=False,
                id="nsscope.filter.clear"),
    ]

    def __init__(self, history: History, read_only: str | None = None) -> None:
        super().__init__()
        #: the CPU rates the collector keeps (the plots' and details' series)
        self.history = history
        #: why actions are off (None: they are on)
        self.read_only = read_only
        self.frame: Frame | None = None
        self.follow_pid: int | None = None
        self.filter_text = ""
        self._status: Text | None = None

    def compose(self) -> ComposeResult:
        yield Static(id="status", markup=False)
        with Horizontal(id="body"):
            with Vertical(id="left"):
                with TabbedContent(initial=OUTLINES[0].name, id="views"):
                    for outline in OUTLINES:
                        with TabPane(outline.title, id=outline.name):
                            yield HostTree(outline, id=f"tree-{outline.name}")
                yield Input(id="filter", placeholder="filter: name, pid, path…")
            with Vertical(id="right"):
                yield Details(id="details")
                yield PlotPanel(id="plots")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#filter", Input).display = False
        self.active_tree.focus()

    # --- the state the actions work on

    @property
    def view(self) -> str:
        return self.query_one("#views", TabbedContent).active or OUTLINES[0].name

    @property
    def active_tree(self) -> HostTree:
        return self.query_one(f"#tree-{self.view}", HostTree)

    @property
    def selection(self) -> Ref:
        """What the actions and the right pane are about: the cursor's entry."""
        e = self.active_tree.cursor_entry
        if e is not None and e.ref.kind != "none":
            return e.ref
        if self.follow_pid is not None:
            return Ref("process", self.follow_pid)
        return NO_REF

    # --- frames

    def show_frame(self, frame: Frame) -> None:
        self.frame = frame
        self._show_status(frame)
        tree = self.active_tree
        tree.show(frame, query=self.filter_text)
        self._reveal_followed()
        self.show_selection()

    def _show_status(self, frame: Frame) -> None:
        snap = frame.snapshot
        t = Text()
        t.append("nsscope", style="bold")
        if frame.moment:
            t.append(f"  {frame.moment}", style="bold magenta")
        t.append(f"  {count(len(snap.processes), 'process', 'processes')}  "
                 f"{count(len(snap.namespaces), 'namespace')}  "
                 f"{count(len(snap.cgroups), 'cgroup')}  "
                 f"{count(len(frame.containers), 'container')}  cgroup {snap.cgroup_mode}")
        if self.follow_pid is not None:
            t.append(f"  following {self.follow_pid}", style="bold cyan")
        if self.active_tree.sort:
            t.append("  sorted by throttling", style="yellow")
        reason = self.read_only
        if reason:
            t.append("  read-only", style="bold yellow")
        if t != self._status:
            self._status = t
            self.query_one("#status", Static).update(t, layout=False)

    def _reveal_followed(self) -> None:
        if self.follow_pid is None or self.frame is None:
            return
        if self.follow_pid not in self.frame.snapshot.processes:
            self.notify(f"process {self.follow_pid} exited; no longer following",
                        severity="warning", markup=False)
            self.follow_pid = None
            self.active_tree.pin = None
            return
        keys = self.active_tree.outline.path_to(self.frame, self.follow_pid)
        if keys:
            self.active_tree.pin = self.follow_pid
            if not self.active_tree.reveal(keys):
                # past the node's process limit: pin it and try once more
                self.active_tree.show(self.frame)
                self.active_tree.reveal(keys)

    def show_selection(self) -> None:
        frame = self.frame
        if frame is None:
            return
        ref = self.selection
        path, _ = subject_of(frame, ref)
        history = self.history
        self.query_one(Details).show(frame, ref, history.latest(path) if path else None)
        self.query_one(PlotPanel).show(title_of(frame, ref, path),
                                       history.series(path) if path else (),
                                       frame.snapshot.uptime)

    @on(Tree.NodeHighlighted)
    def _highlighted(self, event: Tree.NodeHighlighted) -> None:
        self.show_selection()

    @on(TabbedContent.TabActivated, "#views")
    def _view_changed(self, event: TabbedContent.TabActivated) -> None:
        self._show_view()

    def _show_view(self) -> None:
        tree = self.active_tree
        if self.frame is not None:
            tree.show(self.frame, query=self.filter_text)
            self._reveal_followed()
            self.show_selection()
        tree.focus()

    # --- navigation actions

    def action_view(self, name: str) -> None:
        self.query_one("#views", TabbedContent).active = name
        # at once, not when TabActivated arrives: keys typed right after 1/2/3 (enter,
        # arrows) find the new tree filled and focused
        self._show_view()

    def action_filter(self) -> None:
        field = self.query_one("#filter", Input)
        field.display = True
        # a widget that is not displayed yet cannot take the focus: after the refresh
        self.call_after_refresh(field.focus)

    def action_clear_filter(self) -> None:
        field = self.query_one("#filter", Input)
        if not field.display and not self.filter_text:
            return
        field.value = ""
        field.display = False
        self._apply_filter("")
        self.active_tree.focus()

    @on(Input.Changed, "#filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        self._apply_filter(event.value.strip())

    @on(Input.Submitted, "#filter")
    def _filter_done(self, event: Input.Submitted) -> None:
        if not event.value.strip():
            self.query_one("#filter", Input).display = False
        self.active_tree.focus()

    def _apply_filter(self, query: str) -> None:
        self.filter_text = query
        if self.frame is not None:
            self.active_tree.show(self.frame, query=query)
            self.show_selection()

    def action_follow(self) -> None:
        """f toggles: stops following, else follows the process under the cursor (asks
        for a pid when the cursor is on something else)."""
        if self.follow_pid is not None:
            pid = self.follow_pid
            self.follow(None)
            self.notify(f"no longer following {pid}", markup=False, timeout=2)
            return
        ref = self.selection
        if ref.kind == "process":
            self.follow(ref.ident)
            self.notify(f"following {ref.ident} (f again stops)", markup=False, timeout=2)
            return
        self.action_follow_ask()

    def action_follow_ask(self) -> None:
        ref = self.selection
        pid = ref.ident if ref.kind == "process" else self.follow_pid

        def done(result: int | None) -> None:
            if result is None:
                return
            self.follow(result or None)
        self.app.push_screen(FollowDialog(pid), done)

    def follow(self, pid: int | None) -> None:
        """Keep the cursor on ``pid`` (None stops)."""
        self.follow_pid = pid
        self.active_tree.pin = pid
        if pid is not None and self.frame is not None:
            if pid not in self.frame.snapshot.processes:
                self.notify(f"no process {pid} (yet); following it when it appears",
                            markup=False)
            elif self.active_tree.outline.path_to(self.frame, pid) is None:
                self.notify(f"process {pid} has no place in the {self.view} view; "
                            "its details are shown", markup=False)
        if self.frame is not None:
            self.show_frame(self.frame)

    def action_sort(self) -> None:
        tree = self.active_tree
        if self.frame is not None:
            tree.show(self.frame, sort=not tree.sort)
            self._show_status(self.frame)
        else:
            tree.sort = not tree.sort

    def action_kernel_threads(self) -> None:
        """K: unfold every folded row of kernel threads in the tree, or fold them again."""
        self.active_tree.toggle_kernel_threads()

    def action_next_plot(self) -> None:
        panel = self.query_one(PlotPanel)
        tabs = list(PLOTS)
        panel.active = tabs[(tabs.index(panel.active) + 1) % len(tabs)]

    # --- host actions (each runs `nsscope …`)

    def _plan_or_explain(self, plan: actions.Invocation) -> bool:
        if plan.argv is None:
            self.notify(plan.why, title="not available", severity="warning", markup=False)
            return False
        return True

    def _check_writable(self) -> bool:
        reason = self.read_only
        if reason:
            self.notify(reason, title="not available", severity="warning", markup=False)
            return False
        if self.frame is None:
            self.notify("no data yet", severity="warning", markup=False)
            return False
        return True

    def action_enter(self) -> None:
        if not self._check_writable():
            return
        assert self.frame is not None
        plan = actions.enter_plan(self.frame, self.selection)
        if self._plan_or_explain(plan):
            self.post_message(EnterRequested(plan))

    def action_throttle(self) -> None:
        if not self._check_writable():
            return
        assert self.frame is not None
        frame, ref = self.frame, self.selection
        probe = actions.throttle_plan(frame, ref, "50%")
        if not self._plan_or_explain(probe):
            return

        def done(value: str | None) -> None:
            if value:
                self.post_message(ActionRequested(
                    "throttle", actions.throttle_plan(frame, ref, value)))
        self.app.push_screen(ThrottleDialog(probe.what, actions.current_limit(frame, ref)), done)

    def action_reset(self) -> None:
        if not self._check_writable():
            return
        assert self.frame is not None
        plan = actions.reset_plan(self.frame, self.selection)
        if not self._plan_or_explain(plan):
            return
        assert plan.argv is not None

        def done(yes: bool | None) -> None:
            if yes:
                self.post_message(ActionRequested("reset", plan))
        self.app.push_screen(ConfirmDialog(
            "Reset the CPU limit of", plan.what, plan.argv,
            "restores the limit recorded before nsscope throttle changed it, moves moved "
            "processes back and removes the cgroups it made (refused if someone changed "
            "the limit since)"), done)

    def action_stop(self) -> None:
        if not self._check_writable():
            return
        assert self.frame is not None
        frame = self.frame
        plan = actions.stop_plan(frame, self.selection)
        if not self._plan_or_explain(plan):
            return
        assert plan.argv is not None
        grace = getattr(self.app, "stop_grace", actions.STOP_GRACE)

        def done(yes: bool | None) -> None:
            if yes:
                self.post_message(StopRequested(plan))
        self.app.push_screen(ConfirmDialog(
            "Stop", plan.what, plan.argv,
            f"SIGTERM to its PID 1; SIGKILL if it has not exited after {grace:g} s"), done)

"""The command palette's nsscope commands (ctrl+p): the same actions as the keys."""

from __future__ import annotations

from functools import partial

from textual.command import DiscoveryHit, Hit, Hits, Provider

#: (action on the main screen, title, help)
COMMANDS: tuple[tuple[str, str, str], ...] = (
    ("enter", "Enter the selection", "suspend and run nsscope enter TARGET -- $SHELL (e)"),
    ("throttle", "Throttle the selection", "set a CPU limit: nsscope throttle TARGET VALUE (t)"),
    ("reset", "Reset the throttle",
     "asks, then restores the limit: nsscope throttle TARGET --reset (r)"),
    ("stop", "Stop the container",
     "asks, then SIGTERM, SIGKILL after 10 s, for containers made by nsscope run (k)"),
    ("view('containers')", "View: containers", "runtime → container → processes (1)"),
    ("view('namespaces')", "View: namespaces", "user namespaces → owned namespaces (2)"),
    ("view('cgroups')", "View: cgroups", "the cgroup tree with CPU and throttling (3)"),
    ("filter", "Filter the tree", "incremental filter on names, pids, paths (/)"),
    ("follow", "Follow the process", "keep the cursor on it; again stops (f)"),
    ("follow_ask", "Follow a pid…", "asks for a pid to keep the cursor on (F)"),
    ("kernel_threads", "Kernel threads", "unfold or fold the rows of kernel threads (K)"),
    ("sort", "Sort by throttling", "most throttled first, or back to names (s)"),
    ("next_plot", "Next plot", "CPU vs limit, throttled time, PSI (p)"),
)


class NsscopeCommands(Provider):
    """Hits for the actions; an action that cannot run says why in its help."""

    def _hit_help(self, action: str, text: str) -> str:
        reason = getattr(self.screen, "read_only", None)
        if reason and action in ("enter", "throttle", "reset", "stop"):
            return f"{text} — unavailable: {reason}"
        return text

    def _run(self, action: str) -> None:
        # declared on the main screen (MainScreen.COMMANDS): self.screen is it
        self.app.call_later(self.screen.run_action, action)

    async def discover(self) -> Hits:
        for action, title, text in COMMANDS:
            yield DiscoveryHit(title, partial(self._run, action),
                               help=self._hit_help(action, text))

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for action, title, text in COMMANDS:
            score = matcher.match(title)
            if score > 0:
                yield Hit(score, matcher.highlight(title), partial(self._run, action),
                          text=title, help=self._hit_help(action, text))

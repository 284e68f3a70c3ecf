"""Live plots of one cgroup's CPU rates over the last minutes (plotext via textual-plotext).

A plotext build is the dearest thing the TUI does (tens of ms for a large
plot), so: only the plot on the visible tab is given new data and redrawn,
it is redrawn only when a new sample arrived, and the series is thinned to
about two points per column before plotext sees it.

Each line is averaged over the last ``SMOOTH`` seconds, weighted by each
sample's interval (``smooth``): a rate over a few samples is the counters'
delta over the time between their readings, so a reading taken late (the
collector busy with a new process) and the next taken early no longer show as
115 % then 85 % for one busy thread. Each legend entry carries the line's
latest value: a line drawn under another (usage exactly at the limit) is still
read there.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import pairwise

from rich.text import Text
from textual.app import ComposeResult
from textual.geometry import Region
from textual.strip import Strip
from textual.visual import Visual, visualize
from textual.containers import Vertical
from textual.widgets import TabbedContent, TabPane
from textual_plotext import PlotextPlot

from nsscope.host.history import CpuRates
from nsscope.tui.outlines.labels import pct, shorten

#: tab id -> (tab title, [(field of CpuRates, legend label, colour)]); the legend label
#: is followed by the latest value ('cpu 20%', 'throttled 740 ms/s'), and kept short:
#: plotext blanks the canvas behind the legend's box (the curves of its first rows)
PLOTS: dict[str, tuple[str, list[tuple[str, str, str]]]] = {
    "plot-cpu": ("CPU % vs limit", [("limit_pct", "limit", "red"),
                                    ("usage_pct", "cpu", "cyan"),
                                    ("throttled_pct", "throttled", "orange")]),
    "plot-throttled": ("Throttled time", [("throttled_ms", "throttled", "orange")]),
    "plot-psi": ("PSI cpu.pressure", [("pressure_some_pct", "some", "magenta"),
                                      ("pressure_full_pct", "full", "red")]),
}

#: seconds each line is averaged over (the latest samples' intervals, weighted)
SMOOTH = 3.0


def smooth(series: Sequence[CpuRates], attr: str, window: float = SMOOTH) -> list[float | None]:
    """``attr`` of each sample averaged over the samples of the last ``window`` seconds,
    each weighted by its interval: sum(rate × interval) / sum(interval), which is the
    counter's delta over the time between the readings that bound the window. A
    sample's own interval is the time since the one before (the first: the next one's).
    The limit is not averaged (a step stays a step)."""
    ys: list[float | None] = [getattr(r, attr) for r in series]
    if attr == "limit_pct" or len(series) < 2:
        return ys
    ats = [r.at for r in series]
    dts = [ats[1] - ats[0]] + [b - a for a, b in pairwise(ats)]
    out: list[float | None] = []
    total = span = 0.0
    first = 0
    for i, y in enumerate(ys):
        if y is None or dts[i] <= 0:
            out.append(y)
            continue
        total += y * dts[i]
        span += dts[i]
        # samples whose interval ended more than `window` before this one's end leave
        while ats[i] - ats[first] >= window - 1e-9 and first < i:
            yf = ys[first]
            if yf is not None and dts[first] > 0:
                total -= yf * dts[first]
                span -= dts[first]
            first += 1
        out.append(total / span if span > 0 else y)
    return out


def legend_value(attr: str, v: float | None) -> str:
    if v is None:
        return "-"
    return f"{v:.0f} ms/s" if attr == "throttled_ms" else pct(v)


def thin(xs: Sequence[float], ys: Sequence[float | None],
         points: int) -> tuple[list[float], list[float]]:
    """At most ``points`` (x, y) pairs: consecutive samples averaged per bucket; None skipped."""
    pairs = [(x, y) for x, y in zip(xs, ys, strict=True) if y is not None]
    if len(pairs) <= points or points <= 0:
        return [p[0] for p in pairs], [p[1] for p in pairs]
    out_x: list[float] = []
    out_y: list[float] = []
    step = len(pairs) / points
    for i in range(points):
        chunk = pairs[int(i * step):int((i + 1) * step)] or [pairs[-1]]
        out_x.append(chunk[-1][0])
        out_y.append(sum(p[1] for p in chunk) / len(chunk))
    return out_x, out_y


class RatePlot(PlotextPlot):
    """One plot of a ``PLOTS`` entry for one cgroup's series.

    Drawn line by line (Textual's line API): a new sample rebuilds the plotext
    figure, but only the terminal lines whose text changed are turned into
    strips and repainted (from one second to the next that is the end of each
    curve, a line or two, not the ~30 lines of the whole plot: the compositing
    of the whole plot each second was most of the TUI's CPU cost, issue 8).
    """

    def __init__(self, kind: str, span: float = 300.0, **kwargs) -> None:
        super().__init__(**kwargs)
        self.kind = kind
        self.span = span
        self.subject = ""
        self.series: tuple[CpuRates, ...] = ()
        self.now = 0.0
        self._shown: tuple[str, float | None, int, float] | None = None
        #: the plot as built: its ANSI lines, their strips, and what they were built for
        self._lines: list[str] = []
        self._strips: list[Strip] = []
        self._built_for: tuple | None = None
        #: builds done (tests and the benchmark count redraws with it)
        self.draws = 0

    def set_series(self, subject: str, series: tuple[CpuRates, ...], now: float) -> None:
        """New data; repaints only the lines that differ from what is on screen."""
        # the collector may be ahead of the frame on screen: plot up to that frame
        if series and series[-1].at > now:
            series = tuple(r for r in series if r.at <= now)
        stamp = (subject, series[-1].at if series else None, len(series), now)
        if stamp == self._shown:
            return
        self._shown = stamp
        self.subject, self.series, self.now = subject, series, now
        if self._built_for is None or self._built_for != self._build_key():
            self._built_for = None  # built (in full) when next painted
            self.refresh()
            return
        for first, last in self._rebuild():
            self.refresh(Region(0, first, self.size.width, last - first))

    def _build_key(self) -> tuple:
        return (self.size, self.app.theme, self.theme, self.visual_style)

    def _rebuild(self) -> list[tuple[int, int]]:
        """Build the figure again; the runs [first, last) of lines that changed."""
        lines = self._build().split("\n")
        width = self.size.width
        old = self._lines if len(self._lines) == len(lines) else []
        strips = self._strips if old else []
        out: list[tuple[int, int]] = []
        for y, line in enumerate(lines):
            if old and old[y] == line:
                continue
            strip = Visual.to_strips(self, visualize(self, Text.from_ansi(line)), width, 1,
                                     self.visual_style)[0]
            if old:
                strips[y] = strip
                if out and out[-1][1] == y:
                    out[-1] = (out[-1][0], y + 1)
                else:
                    out.append((y, y + 1))
            else:
                strips.append(strip)
        if not old:
            out = [(0, len(lines))]
        self._lines, self._strips = lines, strips
        self._built_for = self._build_key()
        return out

    def render_line(self, y: int) -> Strip:
        if self._built_for != self._build_key():
            self._rebuild()
        self._dirty_regions.clear()
        if 0 <= y < len(self._strips):
            return self._strips[y]
        return Strip.blank(self.size.width, self.visual_style.rich_style)

    def _build(self) -> str:
        """The plotext figure at the widget's size, as ANSI text."""
        self.draws += 1
        plt = self.plt
        plt.clear_figure()
        fields = PLOTS[self.kind][1]
        width = max(self.size.width - 10, 10)
        xs = [r.at - self.now for r in self.series]
        top = 0.0
        drawn = 0
        for attr, label, color in fields:
            ys = smooth(self.series, attr)
            px, py = thin(xs, ys, width * 2)
            if not px:
                continue
            top = max(top, *py)
            # "hd" (2x2 dots a cell) costs plotext about a third less than braille;
            # the limit is drawn first, so usage at the limit shows over it (and the
            # legend gives both values)
            plt.plot(px, py, label=f"{label} {legend_value(attr, ys[-1])}", color=color,
                     marker="hd")
            drawn += 1
        plt.xlim(-self.span, 0)
        if self.kind != "plot-throttled":
            plt.ylim(0, max(100.0, top * 1.1))
        elif top:
            plt.ylim(0, top * 1.15)
        subject = shorten(self.subject, max(20, self.size.width - 10))
        if not drawn:
            plt.title(f"{subject}: waiting for a second sample" if subject
                      else "select a container, cgroup or process")
        else:
            plt.title(subject)
        plt.xlabel("seconds")
        # what PlotextPlot.render sets before building (textual-plotext 1.0)
        size = self.size
        plt.plotsize(size.width, size.height)
        plt._set_size(size.width, size.height)
        plt.theme(self._get_plotext_theme_name(self.app.theme))
        return plt.build()


class PlotPanel(Vertical):
    """The plots, one per tab; the hidden ones are left alone."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self._pending: tuple[str, tuple[CpuRates, ...], float] | None = None

    def compose(self) -> ComposeResult:
        with TabbedContent(initial="plot-cpu", id="plot-tabs"):
            for tab_id, (title, _) in PLOTS.items():
                with TabPane(title, id=tab_id):
                    yield RatePlot(tab_id, id=f"{tab_id}-plot")

    @property
    def active(self) -> str:
        return self.query_one("#plot-tabs", TabbedContent).active

    @active.setter
    def active(self, tab_id: str) -> None:
        self.query_one("#plot-tabs", TabbedContent).active = tab_id

    def plot(self, kind: str) -> RatePlot:
        return self.query_one(f"#{kind}-plot", RatePlot)

    def show(self, subject: str, series: tuple[CpuRates, ...], now: float) -> None:
        self._pending = (subject, series, now)
        if self.active:
            self.plot(self.active).set_series(subject, series, now)

    def on_tabbed_content_tab_activated(self, event: TabbedContent.TabActivated) -> None:
        if self._pending is not None and self.active:
            self.plot(self.active).set_series(*self._pending)

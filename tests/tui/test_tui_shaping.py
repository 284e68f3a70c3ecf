"""The TUI as issue 15 shapes it, driven with Pilot on the replayed host scene
(tests/fixtures/scene-v2: docker containers web, db and batch — batch held to 20 % —,
the Kubernetes pod shop/api-6d8f9c7b5-x2kq9, a bubblewrap sandbox).

The oracles are the capture's own files: the names its runtime state gives
(config.v2.json, the CRI annotations), the kernel-thread flag in /proc/PID/stat,
the namespace links of the containers' processes.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from rich.text import Text
from textual.widgets import DataTable, Static

from nsscope.host.history import CpuRates
from nsscope.tui import actions
from nsscope.tui.app import NsscopeApp
from nsscope.tui.dev import scenario
from nsscope.tui.dev.screenshots import loaded
from nsscope.tui.outlines import Ref
from nsscope.tui.screens.confirm import ConfirmDialog
from nsscope.tui.screens.follow import FollowDialog
from nsscope.tui.source import FixedSource
from nsscope.tui.widgets.details import flow
from nsscope.tui.widgets.plots import smooth

from support import FIXTURES
from support.tui import messages, summary, until

SCENE = FIXTURES / "scene-v2"
SIZE = (160, 48)
#: PF_KTHREAD, include/linux/sched.h: the flags field of /proc/PID/stat (9th)
PF_KTHREAD = 0x00200000


def scene_app(seconds: int = 10, frames=None) -> NsscopeApp:
    app = NsscopeApp(FixedSource(frames or scenario.frames(SCENE, seconds)), interval=0.0)
    app.animation_level = "none"
    return app


def docker_names() -> dict[str, str]:
    """id -> name from the capture's docker state (config.v2.json "Name": "/web")."""
    out = {}
    for cfg in SCENE.glob("var/lib/docker/containers/*/config.v2.json"):
        doc = json.loads(cfg.read_text())
        out[doc["ID"]] = doc["Name"].lstrip("/")
    return out


def kernel_threads(pids) -> set[int]:
    out = set()
    for pid in pids:
        path = SCENE / f"proc/{pid}/stat"
        if not path.exists():
            continue  # a member the capture's cgroup.procs lists, gone from its /proc
        stat = path.read_text()
        if int(stat.rsplit(")", 1)[1].split()[6]) & PF_KTHREAD:
            out.add(pid)
    return out


async def expand_all(pilot, tree, keep=lambda key: True) -> None:
    for _ in range(8):
        grew = False
        for key in tree.visible_keys():
            node = tree.node_for(key)
            if node is not None and node.allow_expand and not node.is_expanded and keep(key):
                node.expand()
                grew = True
        await pilot.pause()
        if not grew:
            return


def label(tree, key: str) -> str:
    return tree.entry(tree.node_for(key)).label.plain


# --- 1. names --------------------------------------------------------------------------

async def test_containers_are_named_in_every_view():
    names = docker_names()
    assert sorted(names.values()) == ["batch", "db", "web"]
    app = scene_app()
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        frame = app.frame
        by_name = {c.name: c for c in frame.containers}
        batch = by_name["batch"]
        assert names[batch.id] == "batch"
        # Containers: the name, the figures, the short id last (what a narrow pane cuts)
        tree = app.main.active_tree
        tree.node_for("rt:docker").expand()
        tree.node_for("rt:containerd").expand()
        await pilot.pause()
        text = label(tree, f"rt:docker|ctr:{batch.key}")
        assert re.fullmatch(r"batch  cpu 20% / 20%  thr \d+%  39e06029a411", text), text
        api = label(tree, f"rt:containerd|ctr:{by_name['api'].key}")
        assert api.startswith("shop/api-6d8f9c7b5-x2kq9/api  cpu "), api
        # the plot's title and the actions' messages name it too
        await pilot.pause()
        tree.move_cursor(tree.node_for(f"rt:docker|ctr:{batch.key}"), animate=False)
        await pilot.pause(0.2)
        plot = app.main.query_one("#plots").plot("plot-cpu")
        assert plot.subject == "batch (docker 39e06029a411)"
        assert "batch (docker 39e06029a411)" in "\n".join(plot._lines)
        plan = actions.throttle_plan(frame, Ref("container", batch.key), "30%")
        assert plan.what == "batch (docker 39e06029a411)"
        # what e says when the shell ends ("back from …")
        assert actions.enter_plan(frame, Ref("container", batch.key), shell="/bin/sh").what \
            == f"batch (docker 39e06029a411), pid {batch.pid} (stress)"
        assert summary(app).startswith("docker container batch\n")
        assert f"\nid      {batch.id}\n" in summary(app)  # whole, never cut
        # Cgroups: a container's cgroup carries its name first, its own name last
        await pilot.press("3")
        tree = app.main.active_tree
        await expand_all(pilot, tree, keep=lambda k: k.count("/") < 3)
        text = label(tree, f"cg:{batch.cgroup}")
        assert text.startswith("batch  cpu 20% / 20%  thr ")
        assert text.endswith("2 procs  docker docker-39e06029…b9.scope"), text
        # Namespaces: a namespace says who lives in it; the pod's net namespace holds
        # its sandbox (POD) and its app
        await pilot.press("2")
        tree = app.main.active_tree
        await expand_all(pilot, tree, keep=lambda k: k.startswith(("u:", "ns:unowned"))
                         and "|pid" not in k and k.count("|") < 2)
        net = {ino for ino in (frame.process(c.pid).ns["net"] for c in frame.containers
                               if c.pid) if ino != frame.snapshot.host_ns["net"]}
        labels = {key: label(tree, key) for key in tree.visible_keys()}
        batch_net = frame.process(batch.pid).ns["net"]
        assert any(k.endswith(f"ns:{batch_net}") and v.endswith("  batch")
                   for k, v in labels.items()), labels
        pod_net = frame.process(by_name["api"].pid).ns["net"]
        assert pod_net in net
        text = next(v for k, v in labels.items() if k.endswith(f"ns:{pod_net}"))
        assert "shop/api-6d8f9c7b5-x2kq9/api" in text and "shop/api-6d8f9c7b5-x2kq9/POD" in text


# --- 2. the details pane: two blocks ----------------------------------------------------

async def test_namespaces_and_processes_are_two_boxes():
    app = scene_app()
    async with app.run_test(size=(200, 50)) as pilot:
        await loaded(pilot)
        await pilot.press("3")
        await pilot.pause(0.2)
        main = app.main
        assert main.selection == Ref("cgroup", "/")
        ns_block, members_block = main.query_one("#ns-block"), main.query_one("#members-block")
        # two boxes, each with its own title, neither inside the other
        assert not ns_block.region.overlaps(members_block.region)
        assert str(ns_block.border_title) == "namespaces of pid 1"
        members = main.query_one("#members", DataTable)
        users = [p for p in app.frame.snapshot.cgroups["/"].procs
                 if p in app.frame.snapshot.processes]
        assert str(members_block.border_title) == f"processes  {len(users)}"
        # the whole list is there (scrolled in its own block), taller than the 8 namespaces
        assert members.row_count == len(users) > 8
        ns_table = main.query_one("#ns-table", DataTable)
        assert ns_table.row_count == 8
        assert members_block.region.height > ns_block.region.height
        # the user's processes first, kernel threads after them
        first = [int(members.get_row_at(i)[0].plain) for i in range(members.row_count)]
        k = kernel_threads(first)
        assert first.index(min(k)) > max(first.index(p) for p in set(first) - k)


# --- 3. labels with their spaces, nothing wrapped mid-value -----------------------------

def test_flow_breaks_between_items_never_inside():
    lines = [("limits", [Text("cpu 20% (cpu.max 20000 100000)"), Text("weight 100"),
                         Text("memory 0.6 MiB / 64.0 MiB"), Text("pids 2 / 64")]),
             ("cgroup", [Text("/system.slice/docker-" + "a" * 64 + ".scope")])]
    items = ("cpu 20% (cpu.max 20000 100000)", "weight 100", "memory 0.6 MiB / 64.0 MiB",
             "pids 2 / 64")
    for width in (30, 44, 60, 98, 200):
        out = flow(lines, width).plain.split("\n")
        assert all(len(line) <= max(width, 20) for line in out), (width, out)
        body = "\n".join(out)
        for item in items:
            if len(item) + 8 <= width:
                assert item in body, (width, out)  # whole, on one line
            else:  # wider than the line: cut where it stands, not carried over
                assert item[:10] in body and "…" in body, (width, out)
        assert out[0].startswith("limits  cpu 20%")
        # a path wider than the line: cut in the middle, its end kept
        assert out[-1].startswith("cgroup  /system.slice") and out[-1].endswith(".scope")
        assert ("…" in out[-1]) == (width < 8 + len(lines[1][1][0]))


async def test_summary_at_200_columns_keeps_values_whole():
    app = scene_app()
    async with app.run_test(size=(200, 50)) as pilot:
        await loaded(pilot)
        batch = next(c for c in app.frame.containers if c.name == "batch")
        await pilot.press("3")
        app.main.follow(batch.pid)
        await pilot.pause(0.2)
        text = summary(app)
        width = app.main.query_one("#summary", Static).content_region.width
        lines = text.split("\n")
        assert all(len(line) <= width for line in lines), lines
        assert any(re.search(r"^limits  cpu 20% \(cpu\.max 20000 100000\)", li) for li in lines)
        assert "pids 2 / 64" in text and "memory 0.6 MiB / 64.0 MiB" in text
        assert any(li.startswith("now     cpu 20% (100% of limit)  throttled 100% of periods")
                   for li in lines), lines


async def test_at_80x24_the_tree_shows_usage_and_limit_and_the_plot_its_lines():
    app = scene_app(seconds=60)
    async with app.run_test(size=(80, 24)) as pilot:
        await loaded(pilot)
        main = app.main
        assert main.has_class("-short")
        tree = main.active_tree
        tree.node_for("rt:docker").expand()
        await pilot.pause()
        batch = next(c for c in app.frame.containers if c.name == "batch")
        tree.move_cursor(tree.node_for(f"rt:docker|ctr:{batch.key}"), animate=False)
        await pilot.pause(0.3)
        screen = app.export_screenshot()
        text = re.sub(r"<[^>]+>", "", screen).replace("&#160;", " ")
        assert "batch  cpu 20% / 20%  thr 100%" in text
        # the tables give way; the plot keeps 12 rows or more, with its legend
        assert not main.query_one("#blocks").display
        plot = main.query_one("#plots").plot("plot-cpu")
        assert plot.region.height >= 12
        legend = "\n".join(plot._lines)
        assert "limit 20%" in legend and "cpu 20%" in legend


# --- 4. kernel threads folded -----------------------------------------------------------

async def test_kernel_threads_are_one_folded_row():
    app = scene_app()
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        await pilot.press("3", "enter")
        await pilot.pause()
        tree = app.main.active_tree
        root_procs = app.frame.snapshot.cgroups["/"].procs
        kthreads = kernel_threads(root_procs)
        assert len(kthreads) > 20
        keys = tree.visible_keys()
        assert "cg:/|kthreads" in keys
        assert label(tree, "cg:/|kthreads") == f"{len(kthreads)} kernel threads  K unfolds"
        shown = {int(k.rsplit(":", 1)[1]) for k in keys if "|pid:" in k}
        assert shown == set(root_procs) - kthreads  # init and the like, no kthread
        await pilot.press("K")
        await pilot.pause()
        keys = tree.visible_keys()
        assert {int(k.rsplit(":", 1)[1]) for k in keys if "|kthreads|pid:" in k} == kthreads
        await pilot.press("K")
        await pilot.pause()
        assert not any("|kthreads|pid:" in k for k in tree.visible_keys())
        # following a kernel thread opens its row
        app.main.follow(2)
        await pilot.pause()
        assert tree.cursor_entry.key == "cg:/|kthreads|pid:2"
        # the Namespaces view folds them too
        await pilot.press("2")
        await pilot.pause()
        assert app.main.active_tree.cursor_entry.key.endswith("|kthreads|pid:2")


# --- 6. filter, group counts, f ------------------------------------------------------------

async def test_filter_counts_what_matched_and_f_toggles_follow():
    app = scene_app()
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        tree = app.main.active_tree
        await pilot.press("slash", *"batch")
        await pilot.pause()
        assert label(tree, "rt:docker") == "docker  1 of 3 containers"
        await pilot.press("escape")
        await pilot.pause()
        assert label(tree, "rt:docker") == "docker  3 containers"
        await pilot.press("slash", *"nothing-here", "enter")
        await pilot.pause()
        assert tree.visible_keys() == ["nomatch"]
        assert label(tree, "nomatch").startswith("no match for 'nothing-here'")
        await pilot.press("escape")
        await pilot.pause()
        # f on a process follows it, f again stops; no dialog either time
        tree.node_for("rt:docker").expand()
        await pilot.pause()
        batch = next(c for c in app.frame.containers if c.name == "batch")
        node = tree.node_for(f"rt:docker|ctr:{batch.key}")
        node.expand()
        await pilot.pause()
        tree.move_cursor(tree.node_for(f"rt:docker|ctr:{batch.key}|pid:{batch.pid}"),
                         animate=False)
        await pilot.pause()
        await pilot.press("f")
        await pilot.pause()
        assert app.main.follow_pid == batch.pid and not isinstance(app.screen, FollowDialog)
        await pilot.press("f")
        await pilot.pause()
        assert app.main.follow_pid is None and not isinstance(app.screen, FollowDialog)
        assert f"no longer following {batch.pid}" in messages(app)
        # on something else than a process, f (and F always) asks for a pid
        await pilot.press("up", "f")
        await until(pilot, lambda: isinstance(app.screen, FollowDialog), what="the dialog")


# --- 7. r and k ask first ----------------------------------------------------------------

async def test_reset_and_stop_ask_before_they_act():
    ran: list[list[str]] = []

    def capture(argv: list[str]) -> tuple[int, str]:
        ran.append(argv)
        return 0, "done"
    app = NsscopeApp(FixedSource(scenario.frames(SCENE, 10)), interval=0.0, capture=capture)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        # as if on a live host as root (the dialog, not the command, is under test here;
        # tests/system/tui/test_tui.py runs the commands for real)
        app.read_only = app.main.read_only = None
        tree = app.main.active_tree
        tree.node_for("rt:docker").expand()
        await pilot.pause()
        batch = next(c for c in app.frame.containers if c.name == "batch")
        tree.move_cursor(tree.node_for(f"rt:docker|ctr:{batch.key}"), animate=False)
        await pilot.pause()
        await pilot.press("r")
        dialog = await until(pilot, lambda: isinstance(app.screen, ConfirmDialog) and app.screen,
                             what="the confirmation")
        text = str(dialog.query_one("#confirm-title", Static).render())
        assert text == "Reset the CPU limit of batch (docker 39e06029a411)?"
        assert str(dialog.query_one("#confirm-argv", Static).render()) == \
            f"nsscope throttle id:{batch.id} --reset"
        await pilot.press("n")
        await pilot.pause(0.3)
        assert not isinstance(app.screen, ConfirmDialog) and ran == []
        await pilot.press("r")
        await until(pilot, lambda: isinstance(app.screen, ConfirmDialog), what="the dialog")
        await pilot.press("y")
        await until(pilot, lambda: ran, what="the command")
        assert ran == [actions.reset_plan(app.frame, Ref("container", batch.key)).argv]
        # k on a docker container: not ours to stop, says why and asks nothing
        ran.clear()
        await pilot.press("k")
        await pilot.pause(0.3)
        assert not isinstance(app.screen, ConfirmDialog) and ran == []
        assert any("belongs to docker" in m for m in messages(app))


# --- 8. the plot: smoothed, and no line hidden ------------------------------------------

def test_smoothing_takes_the_counters_over_the_readings_interval():
    # one busy thread (1 CPU) read every second, the uptime read 0.15 s off now and then
    # (the collector busy with new processes): the counters are exact, the intervals
    # they are divided by are not
    true_at = [float(i) for i in range(30)]
    seen_at = [t + (0.15 if i % 5 == 3 else 0.0) for i, t in enumerate(true_at)]
    series = []
    for i in range(1, 30):
        usage = 1e6 * (true_at[i] - true_at[i - 1])  # µs used over the true interval
        dt = seen_at[i] - seen_at[i - 1]
        series.append(CpuRates(at=seen_at[i], usage_pct=100.0 * usage / 1e6 / dt,
                               limit_pct=None))
    raw = [r.usage_pct for r in series]
    assert max(raw) > 115 and min(raw) < 90  # what the plot showed
    smoothed = [v for v in smooth(series, "usage_pct")[3:]]
    assert all(94 <= v <= 106 for v in smoothed), smoothed


async def test_the_legend_gives_each_line_its_value():
    # batch uses exactly its 20 % limit: the cpu line lies on the limit line
    app = scene_app(seconds=60)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        tree = app.main.active_tree
        tree.node_for("rt:docker").expand()
        await pilot.pause()
        batch = next(c for c in app.frame.containers if c.name == "batch")
        tree.move_cursor(tree.node_for(f"rt:docker|ctr:{batch.key}"), animate=False)
        plot = app.main.query_one("#plots").plot("plot-cpu")
        await until(pilot, lambda: plot.subject.startswith("batch") and plot._lines,
                    what="batch's plot")
        text = "\n".join(plot._lines)
        text = re.sub(r"\x1b\[[0-9;]*m", "", text)
        assert "limit 20%" in text and "cpu 20%" in text
        assert re.search(r"throttled (9\d|100)%", text)  # of the CFS periods


# --- 9. untrusted strings are never markup ------------------------------------------------

async def test_container_names_like_markup_show_literally():
    evil = "[bold red]evil[/]\x1b]0;x\x07"
    frames = scenario.frames(SCENE, 5)
    frames = [f._replace(containers=tuple(c._replace(name=evil) if c.name == "batch" else c
                                          for c in f.containers)) for f in frames]
    app = scene_app(frames=frames)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        shown = "[bold red]evil[/]\\x1b]0;x\\x07"
        tree = app.main.active_tree
        tree.node_for("rt:docker").expand()
        await pilot.pause()
        c = next(c for c in app.frame.containers if c.name == evil)
        key = f"rt:docker|ctr:{c.key}"
        text = tree.entry(tree.node_for(key)).label
        assert text.plain.startswith(shown)
        assert not any(span.start < len(shown) and "red" in str(span.style)
                       for span in text.spans)
        tree.move_cursor(tree.node_for(key), animate=False)
        await pilot.pause(0.2)
        assert summary(app).startswith(f"docker container {shown}\n")
        plot = app.main.query_one("#plots").plot("plot-cpu")
        assert plot.subject.startswith(shown)
        svg = app.export_screenshot().replace("&#160;", " ")
        assert "[bold red]evil[/]" in svg and "\x1b" not in svg and "\x07" not in svg
        # the namespaces view and the cgroups view label it the same way
        await pilot.press("3")
        t = app.main.active_tree
        await expand_all(pilot, t, keep=lambda k: k.count("/") < 3)
        text = t.entry(t.node_for(f"cg:{c.cgroup}")).label
        assert text.plain.startswith(shown)
        # styled as the name (bold), never as the markup it holds (the throttled figure
        # further on is red: its own span)
        assert not any(s.start < len(shown) and "red" in str(s.style) for s in text.spans)


def test_screenshots_keep_their_spaces(tmp_path):
    # librsvg (and most SVG-to-PNG tools) trims the spaces that begin or end a <text>
    # element unless the document says xml:space="preserve": 'cpu 70%' glued to '54p'
    for name in ("containers", "cgroups", "namespaces", "throttle"):
        svg = (Path(__file__).resolve().parents[2] / "screenshots" / f"{name}.svg").read_text()
        assert svg.startswith('<svg xml:space="preserve" '), name

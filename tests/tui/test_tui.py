"""The TUI driven with Pilot (App.run_test) on the captured v2 tree replayed
(nsscope.tui.dev.scenario): views, filter, follow, sort, the palette, action plans.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from textual.widgets import Static

from nsscope.tui import actions
from nsscope.tui.app import NsscopeApp
from nsscope.tui.dev import scenario
from nsscope.tui.dev.screenshots import loaded
from nsscope.tui.frame import Frame
from nsscope.tui.outlines import Ref
from nsscope.tui.screens.help import HelpScreen
from nsscope.tui.screens.throttle import step
from nsscope.tui.source import FixedSource, LiveSource

from support import FIXTURES, NSSCOPE, V2_FIXTURE
from support.scenario import wait_for
from support.tui import messages, summary, until

SIZE = (160, 48)
SCENE = FIXTURES / "scene-v2"
DOCKER = ("/system.slice/docker-"
          "4f1c2a9e8b7d6c5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e.scope")


def fixture_app(seconds: int = 20, throttle_at: int | None = None) -> NsscopeApp:
    return NsscopeApp(FixedSource(scenario.frames(V2_FIXTURE, seconds, throttle_at)),
                      interval=0.0)


async def test_views_switch_and_navigate():
    app = fixture_app()
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        main = app.main
        assert main.view == "containers"
        keys = main.active_tree.visible_keys()
        assert keys == ["rt:containerd", "rt:docker"]
        await pilot.press("down", "enter")  # docker: expand
        await pilot.pause()
        keys = main.active_tree.visible_keys()
        assert keys[2].startswith("rt:docker|ctr:docker:4f1c2a9e8b7d")
        await pilot.press("down")
        await pilot.pause()
        assert main.selection.kind == "container"
        assert "docker container" in summary(app) and "cpu 20%" in summary(app)
        await pilot.press("2")
        await pilot.pause()
        assert main.view == "namespaces"
        assert main.active_tree.visible_keys() == ["u:4026531837"]
        await pilot.press("enter")
        await pilot.pause()
        keys = main.active_tree.visible_keys()
        # the host's seven other namespaces under the initial user namespace, then members
        assert [k.split("|")[-1] for k in keys[1:8]] == [
            "ns:4026531835", "ns:4026531839", "ns:4026531841", "ns:4026531840",
            "ns:4026531836", "ns:4026531834", "ns:4026531838"]
        await pilot.press("3", "enter")
        await pilot.pause()
        assert main.view == "cgroups"
        assert main.active_tree.visible_keys()[:4] == [
            "cg:/", "cg:/kubepods.slice", "cg:/system.slice", "cg:/user.slice"]
        # each cgroup's label carries its CPU and throttling figures
        node = main.active_tree.node_for("cg:/")
        assert "cpu" in main.active_tree.entry(node).label.plain
        # the first view kept its own state
        await pilot.press("1")
        await pilot.pause()
        assert main.active_tree.cursor_entry.ref.kind == "container"


async def test_filter_is_incremental_and_clears():
    app = fixture_app()
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        await pilot.press("3", "slash")
        await pilot.pause()
        await pilot.press(*"dock")
        await pilot.pause()
        tree = app.main.active_tree
        assert tree.visible_keys() == ["cg:/", "cg:/system.slice", f"cg:{DOCKER}"]
        await pilot.press("e", "r", "x")  # no match: one row that says so, not an error
        await pilot.pause()
        assert tree.visible_keys() == ["nomatch"]
        label = tree.entry(tree.node_for("nomatch")).label.plain
        assert label.startswith("no match for 'dockerx'")
        assert app.main.selection == Ref("none")
        await pilot.press("escape")
        await pilot.pause()
        # back to the tree as it was: what only the filter expanded is folded again
        assert tree.visible_keys() == ["cg:/"]
        assert not app.main.query_one("#filter").display
        await pilot.press("enter")
        await pilot.pause()
        assert "cg:/kubepods.slice" in tree.visible_keys()
        # processes match by pid and name
        await pilot.press("slash", *"111")
        await pilot.pause()
        assert tree.visible_keys()[-1].endswith("|pid:111")


async def test_sort_by_throttling():
    # docker unlimited and busy (100 %) under system.slice; the pod below kubepods.slice
    # held to 50 % and throttled: the throttled subtree comes first though system.slice is
    # busier (nsscope top's order), and the pod's container, throttled by that ancestor,
    # says so (↑)
    app = fixture_app(throttle_at=10_000)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        await pilot.press("3", "enter")
        await pilot.pause()
        tree = app.main.active_tree
        assert tree.visible_keys()[1:4] == [
            "cg:/kubepods.slice", "cg:/system.slice", "cg:/user.slice"]
        await pilot.press("s")
        await pilot.pause()
        assert tree.visible_keys()[1:4] == [
            "cg:/kubepods.slice", "cg:/system.slice", "cg:/user.slice"]
        assert "sorted by throttling" in str(app.main.query_one("#status", Static).render())
        frame = app.frame
        ctr = next(c for c in frame.containers if c.runtime == "containerd")
        pod = ctr.cgroup.rsplit("/", 1)[0]
        assert frame.rates[pod].throttled_pct > 90 and not frame.rates[ctr.cgroup].throttled_pct
        await pilot.press("1")
        await pilot.pause()
        tree = app.main.active_tree
        tree.node_for("rt:containerd").expand()
        await pilot.pause()
        label = tree.entry(tree.node_for(f"rt:containerd|ctr:{ctr.key}")).label.plain
        assert "thr ↑100%" in label


async def test_sort_by_throttling_on_the_scene():
    # unsorted, names in order; sorted, the runtime and the slice of the throttled
    # container (batch, held to 20 %) first, and batch first among its siblings
    app = NsscopeApp(FixedSource(scenario.frames(SCENE, 10)), interval=0.0)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        tree = app.main.active_tree
        assert tree.visible_keys() == ["rt:bwrap", "rt:containerd", "rt:docker"]
        await pilot.press("s")
        await pilot.pause()
        assert tree.visible_keys()[0] == "rt:docker"
        await pilot.press("3", "s", "enter")
        await pilot.pause()
        tree = app.main.active_tree
        batch = next(c for c in app.frame.containers if c.name == "batch")
        assert tree.visible_keys()[1] == "cg:/system.slice"
        tree.node_for("cg:/system.slice").expand()
        await pilot.pause()
        assert tree.visible_keys()[2] == f"cg:{batch.cgroup}"
        await pilot.press("s")
        await pilot.pause()
        assert tree.visible_keys()[1] == "cg:/kubepods.slice"


async def test_follow_a_pid_across_views():
    app = fixture_app()
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        await pilot.press("f")
        await pilot.pause()
        await pilot.press(*"111", "enter")
        await pilot.pause()
        main = app.main
        assert main.follow_pid == 111
        entry = main.active_tree.cursor_entry
        assert entry.ref == Ref("process", 111)
        assert entry.key.startswith("rt:containerd|ctr:containerd:9a8b")
        assert summary(app).startswith("process 111 python3")
        await pilot.press("3")
        await pilot.pause()
        entry = main.active_tree.cursor_entry
        assert entry.ref == Ref("process", 111) and "cri-containerd-" in entry.key
        await pilot.press("2")
        await pilot.pause()
        assert main.active_tree.cursor_entry.key == "u:4026531837|ns:4026531836|pid:111"
        # f with an empty field stops following
        await pilot.press("f", "ctrl+a", "ctrl+k", "enter")
        await pilot.pause()
        assert main.follow_pid is None


async def test_plots_draw_only_the_visible_tab():
    app = fixture_app(seconds=30)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        await pilot.press("3", "enter", "down", "down", "enter", "down")
        await pilot.pause()
        assert app.main.selection == Ref("cgroup", DOCKER)
        panel = app.main.query_one("#plots")
        cpu, throttled = panel.plot("plot-cpu"), panel.plot("plot-throttled")
        await pilot.pause(0.2)
        assert cpu.draws >= 1 and len(cpu.series) == 30
        docker = next(c for c in app.frame.containers if c.runtime == "docker")
        assert cpu.subject == f"{docker.name} (docker)"  # its name (host/labels.py title)
        assert throttled.draws == 0, "a hidden plot is never built"
        await pilot.press("p")
        await until(pilot, lambda: throttled.draws >= 1, what="the throttled plot drawn")
        assert throttled.series[-1].throttled_ms > 500


async def test_a_new_sample_repaints_only_the_lines_that_changed():
    app = fixture_app(seconds=30)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        await pilot.press("3", "enter", "down", "down", "enter", "down")
        cpu = app.main.query_one("#plots").plot("plot-cpu")
        await until(pilot, lambda: len(cpu.series) == 30 and cpu.draws >= 1,
                    what="the CPU plot of the docker cgroup")
        series = app.history.series(DOCKER)
        cpu.set_series(DOCKER, series[:-1], series[-2].at)
        await pilot.pause()
        before = list(cpu._lines)
        painted: list[tuple] = []
        refresh = cpu.refresh
        cpu.refresh = lambda *regions, **kw: (painted.append(regions), refresh(*regions, **kw))[1]
        cpu.set_series(DOCKER, series, series[-1].at)
        changed = {y for y, line in enumerate(cpu._lines) if line != before[y]}
        rows = {y for regions in painted for r in regions for y in range(r.y, r.bottom)}
        assert painted and all(painted), "repainted line by line, never as a whole"
        assert rows == changed and 0 < len(rows) < len(before) // 2
        # the lines patched in are those a build from scratch gives
        patched = [list(strip) for strip in cpu._strips]
        cpu._lines = []
        cpu._rebuild()
        assert patched == [list(strip) for strip in cpu._strips]


async def test_help_and_command_palette():
    app = fixture_app()
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("escape")
        await pilot.pause()
        await pilot.press("ctrl+p")
        await pilot.pause()
        await pilot.press(*"View: cgr")
        await pilot.pause(0.5)
        await pilot.press("enter")
        await until(pilot, lambda: app.main.view == "cgroups", what="the palette's command")
        # actions through the palette say why they cannot run on a capture
        await pilot.press("ctrl+p")
        await pilot.pause()
        await pilot.press(*"Throttle the")
        await pilot.pause(0.5)
        await pilot.press("enter")
        await until(pilot, lambda: any("captured scenario" in m for m in messages(app)),
                    what="the read-only explanation")


def test_action_plans_on_the_capture():
    frames = scenario.frames(V2_FIXTURE, 2)
    frame = Frame.of(frames[-1], {})
    docker = next(c for c in frame.containers if c.runtime == "docker")
    # each action names exactly what is selected: a process with its start time (a
    # reused pid is refused), a container by its whole id; $SHELL as --shell (the
    # target's own shell when its root lacks it, silently)
    def exact(pid: int) -> str:
        return f"pid:{pid}@{frame.process(pid).starttime}"
    plan = actions.enter_plan(frame, Ref("container", docker.key), shell="/bin/zsh")
    assert plan.argv == [sys.executable, "-m", "nsscope", "enter", exact(109), "--shell",
                         "/bin/zsh"]
    plan = actions.enter_plan(frame, Ref("namespace", 4026531840), shell="/bin/sh")
    assert plan.argv[4:] == [exact(1), "--net", "--shell", "/bin/sh"]
    plan = actions.throttle_plan(frame, Ref("container", docker.key), "30%")
    assert plan.argv[3:] == ["throttle", f"id:{docker.id}", "30%"]
    assert set(plan.pids) == {109, 110}
    assert actions.reset_plan(frame, Ref("process", 112)).argv[3:] == [
        "throttle", exact(112), "--reset"]
    # a cgroup of one process family is throttled through its top process
    assert actions.throttle_plan(frame, Ref("cgroup", "/user.slice"), "max").argv[4] == \
        exact(112)
    why = actions.throttle_plan(frame, Ref("cgroup", DOCKER), "20%").why
    assert "2 unrelated processes" in why
    assert "belongs to docker" in actions.stop_plan(frame, Ref("container", docker.key)).why
    assert actions.stop_plan(frame, Ref("cgroup", "/")).argv is None
    assert actions.current_limit(frame, Ref("container", docker.key)) == "20%"
    assert actions.read_only_reason(True, euid=1000).startswith("read-only: nsscope runs as "
                                                                "uid 1000")
    assert actions.read_only_reason(True, euid=0) is None


def test_throttle_dialog_steps():
    assert step("20%", 5) == "25%" and step("20%", -5) == "15%"
    assert step("5%", -5) == "5%"  # never below one step
    assert step("0.5", 5) == "55%" and step("max", -5) == "95%"


async def test_a_process_named_like_markup_shows_literally(tmp_path):
    link = tmp_path / "[red]x"
    link.symlink_to("/bin/sleep")
    p = subprocess.Popen([str(link), "100"])
    try:
        wait_for(lambda: Path(f"/proc/{p.pid}/comm").read_text().strip() == "[red]x",
                 what="the comm")
        app = NsscopeApp(LiveSource(), interval=0.3)
        async with app.run_test(size=SIZE) as pilot:
            await until(pilot, lambda: app.frame is not None and p.pid in
                        app.frame.snapshot.processes, what="the process in a frame")
            app.main.follow(p.pid)
            await pilot.press("3")
            await until(pilot, lambda: app.main.active_tree.cursor_entry is not None and
                        app.main.active_tree.cursor_entry.ref == Ref("process", p.pid),
                        what="the cursor on it")
            label = app.main.active_tree.cursor_entry.label
            assert label.plain.endswith("[red]x")
            assert not any("red" in str(span.style) for span in label.spans)
            assert f"process {p.pid} [red]x" in summary(app)
            svg = app.export_screenshot()
            assert "[red]x" in svg.replace("&#160;", " ")
    finally:
        p.kill()
        p.wait()


def test_nsscope_without_command_needs_a_terminal_not_a_traceback():
    # the CLI's bad-input rule holds for the TUI's roots too
    p = subprocess.run([NSSCOPE, "--proc", "/nonexistent"], capture_output=True, text=True,
                       timeout=60, stdin=subprocess.DEVNULL, check=False)
    assert p.returncode != 0
    assert "Traceback" not in p.stderr
    assert "no such directory: /nonexistent" in p.stderr

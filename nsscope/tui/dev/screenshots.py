"""`make screenshots`: SVGs of each view, and of a throttle taking effect, from a fixed scenario.

    python -m nsscope.tui.dev.screenshots FIXTURE OUTDIR

FIXTURE is a captured tree (`make screenshots`: tests/fixtures/scene-v2, a host
with docker containers, a pod and a sandbox); ``scenario`` replays it for five
minutes, so the pictures never depend on this host. The snapshot tests
(tests/tui/test_tui_snapshots.py) drive the same scenes on
tests/fixtures/cgroup-v2-vm.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from collections.abc import Awaitable, Callable

from textual.pilot import Pilot

from nsscope.tui.dev import scenario
from nsscope.tui.app import NsscopeApp
from nsscope.tui.frame import Frame
from nsscope.tui.outlines import Entry
from nsscope.tui.source import FixedSource

SIZE = (160, 48)
SECONDS = 300


def make_app(fixture: str | Path, throttle_at: int | None = None) -> NsscopeApp:
    frames = scenario.frames(fixture, SECONDS, throttle_at=throttle_at)
    app = NsscopeApp(FixedSource(frames), interval=0.0)
    # the tab underline slides when the view changes: a picture mid-slide would differ
    app.animation_level = "none"
    return app


async def loaded(pilot: Pilot) -> NsscopeApp:
    """Wait until every frame of the scenario is on screen."""
    app = pilot.app
    assert isinstance(app, NsscopeApp)
    total = len(app.source.snapshots)  # type: ignore[union-attr]
    for _ in range(600):
        if app.frame is not None and app.frame.seq == total:
            break
        await pilot.pause(0.05)
    await pilot.pause()
    return app


Pick = Callable[[Frame, Entry], bool]


async def select(pilot: Pilot, view: str, pick: Pick,
                 expand: Callable[[Entry], bool] = lambda e: True) -> None:
    """Switch to ``view``, expand entries ``expand`` accepts (breadth first) and put the
    cursor on the first entry ``pick`` accepts."""
    app = await loaded(pilot)
    await pilot.press({"containers": "1", "namespaces": "2", "cgroups": "3"}[view])
    await pilot.pause()
    tree = app.main.active_tree
    for _ in range(8):
        grew = False
        for key in tree.visible_keys():
            node = tree.node_for(key)
            e = tree.entry(node)
            if node is not None and e is not None and e.expandable and not node.is_expanded \
                    and expand(e):
                node.expand()
                grew = True
        await pilot.pause()
        if not grew:
            break
    for key in tree.visible_keys():
        node = tree.node_for(key)
        e = tree.entry(node)
        if e is not None and app.frame is not None and pick(app.frame, e):
            tree.move_cursor(node, animate=False)
            break
    await settle(pilot)


async def settle(pilot: Pilot) -> None:
    """Let the highlight's message reach the panes and everything repaint."""
    for _ in range(3):
        await pilot.pause(0.05)
    await pilot.wait_for_scheduled_animations()


def _is_container(runtime: str) -> Pick:
    def pick(frame: Frame, e: Entry) -> bool:
        c = frame.container(e.ref.ident) if e.ref.kind == "container" else None
        return c is not None and c.runtime == runtime
    return pick


async def containers(pilot: Pilot) -> None:
    await select(pilot, "containers", _is_container("docker"),
                 expand=lambda e: e.ref.kind == "runtime")


def _shared_net(frame: Frame) -> int | None:
    """The net namespace most containers share (a pod's: its sandbox and its
    containers), if two or more share one."""
    count: dict[int, int] = {}
    for c in frame.containers:
        p = frame.process(c.pid) if c.pid is not None else None
        ino = p.ns.get("net") if p is not None else None
        if ino is not None and ino != frame.snapshot.host_ns.get("net"):
            count[ino] = count.get(ino, 0) + 1
    best = max(count, key=lambda ino: (count[ino], -ino), default=None)
    return best if best is not None and count[best] >= 2 else None


def _net(frame: Frame, e: Entry) -> bool:
    """A pod's shared net namespace where there is one, else the first net namespace."""
    if e.ref.kind != "namespace" or not e.label.plain.startswith("net"):
        return False
    shared = _shared_net(frame)
    return shared is None or e.ref.ident == shared


async def namespaces(pilot: Pilot) -> None:
    # user namespaces, and the group of namespaces whose owner a captured tree
    # cannot tell (NS_GET_USERNS needs the live namespace), where a pod's is
    await select(pilot, "namespaces", _net,
                 expand=lambda e: (e.ref.kind == "namespace" and e.label.plain.startswith("user"))
                 or e.ref == ("group", "unowned"))


async def cgroups(pilot: Pilot) -> None:
    await loaded(pilot)
    await pilot.press("3", "s")
    await select(pilot, "cgroups",
                 lambda f, e: e.ref.kind == "cgroup" and "docker-" in str(e.ref.ident),
                 expand=lambda e: e.ref.kind == "cgroup")


async def throttle(pilot: Pilot) -> None:
    await containers(pilot)


#: name -> (throttle_at for the scenario, what to do before the picture)
SCENES: dict[str, tuple[int | None, Callable[[Pilot], Awaitable[None]]]] = {
    "containers": (None, containers),
    "namespaces": (None, namespaces),
    "cgroups": (None, cgroups),
    "throttle": (SECONDS // 2, throttle),
}


def svg(app: NsscopeApp, title: str) -> str:
    """The screenshot as SVG, its spaces kept: Rich writes a run of cells that starts or
    ends with spaces as a <text> whose spaces are &#160;, and renderers that trim
    text (librsvg, hence most SVG-to-PNG tools) glue 'cpu 70%' to '54p' unless told
    to keep them (xml:space, SVG 1.1 section 10.15)."""
    out = app.export_screenshot(title=title)
    return out.replace("<svg ", '<svg xml:space="preserve" ', 1)


async def shoot(fixture: str | Path, outdir: Path) -> list[Path]:
    outdir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, (throttle_at, before) in SCENES.items():
        app = make_app(fixture, throttle_at)
        async with app.run_test(size=SIZE) as pilot:
            await before(pilot)
            await pilot.pause()
            path = outdir / f"{name}.svg"
            path.write_text(svg(app, f"nsscope — {name}"))
            written.append(path)
    return written


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 2:
        sys.stderr.write("usage: python -m nsscope.tui.dev.screenshots FIXTURE OUTDIR\n")
        return 2
    for path in asyncio.run(shoot(argv[0], Path(argv[1]))):
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

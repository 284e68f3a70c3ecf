"""SVG snapshots (pytest-textual-snapshot) of each view and of a throttle taking effect.

They replay the fixed scenario of nsscope.tui.dev.scenario (the cgroup-v2 capture), never
this host's /proc; `make screenshots` draws the same scenes for the README.
"""

from __future__ import annotations

import pytest

from nsscope.tui.dev.screenshots import SCENES, SIZE, make_app

from support import V2_FIXTURE


@pytest.mark.parametrize("scene", list(SCENES))
def test_scene(scene, snap_compare):
    throttle_at, before = SCENES[scene]
    assert snap_compare(make_app(V2_FIXTURE, throttle_at), terminal_size=SIZE,
                        run_before=before)

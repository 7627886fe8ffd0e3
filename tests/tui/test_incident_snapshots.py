"""Snapshots of the incident path at 80x24 and 120x40 (tests.tui.incident_showcase: fixed
data, no server, no clock), and of every showcase scene at 120x40 (the footer and the live
panel changed on every screen)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.tui import incident_showcase, showcase


def _app(project_dir: Path, scene: str):
    base = "rollback-confirm" if scene in ("rollback-base", "wrong-name") else "migrations"
    return showcase.make_app(project_dir, base)


@pytest.mark.parametrize("size", [(80, 24), (120, 40)], ids=["80x24", "120x40"])
@pytest.mark.parametrize("scene", incident_showcase.SCENES)
def test_incident_scene(scene: str, size: tuple[int, int], snap_compare, project_dir: Path
                        ) -> None:
    app = _app(project_dir, scene)
    assert snap_compare(app, terminal_size=size,
                        run_before=lambda pilot: incident_showcase.stage(app, pilot, scene))


@pytest.mark.parametrize("scene", showcase.SCENES)
def test_scene_at_120x40(scene: str, snap_compare, project_dir: Path) -> None:
    app = showcase.make_app(project_dir, scene)
    assert snap_compare(app, terminal_size=(120, 40),
                        run_before=lambda pilot: showcase.stage(app, pilot, scene))

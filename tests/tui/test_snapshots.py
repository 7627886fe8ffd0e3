"""Snapshots of every step, the rollback confirmation and an unreachable server.

The app is the real one with ``autoload=False``: nothing polls or connects; tests.tui.showcase
feeds it fixed core objects through the same messages its workers post (RaptorFlow's real
history and offline SQL, fixed status, checks, plans and tables), so the pictures depend on no
port, temporary path, random name or clock. Update with ``pytest --snapshot-update`` after
checking the diff report.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.tui import showcase


@pytest.mark.parametrize("scene", showcase.SCENES)
def test_scene_at_80x24(scene: str, snap_compare, project_dir: Path) -> None:
    app = showcase.make_app(project_dir, scene)
    assert snap_compare(app, terminal_size=(80, 24),
                        run_before=lambda pilot: showcase.stage(app, pilot, scene))


@pytest.mark.parametrize("scene", ["migrations", "verify"])
def test_wide_layout(scene: str, snap_compare, project_dir: Path) -> None:
    app = showcase.make_app(project_dir, scene)
    assert snap_compare(app, terminal_size=(130, 36),
                        run_before=lambda pilot: showcase.stage(app, pilot, scene))


@pytest.mark.parametrize("size", [(80, 24), (120, 40)], ids=["80x24", "120x40"])
@pytest.mark.parametrize("scene", showcase.NEWCOMER_SCENES)
def test_newcomer(scene: str, size: tuple[int, int], snap_compare, project_dir: Path) -> None:
    """The steps and modals of a first setup: the .env editor (an unparsable line, unsaved
    edits, a change on disk to merge, the changes, rotating SECRET_KEY), what step 3 wrote,
    what the seed inserted, and the ready summary."""
    app = showcase.make_app(project_dir, scene)
    assert snap_compare(app, terminal_size=size,
                        run_before=lambda pilot: showcase.stage_newcomer(app, pilot, scene))


def test_light_theme(snap_compare, project_dir: Path) -> None:
    app = showcase.make_app(project_dir, "seed")

    async def run_before(pilot) -> None:
        app.theme = "textual-light"
        await showcase.stage(app, pilot, "seed")

    assert snap_compare(app, terminal_size=(80, 24), run_before=run_before)


def test_no_password_in_any_scene(project_dir: Path) -> None:
    """The showcase's passwords never reach the screen (URLs masked, password fields hidden)."""
    import asyncio

    from textual.widgets import Input, Static

    async def render(scene: str) -> tuple[str, str, bool]:
        app = showcase.make_app(project_dir, scene)
        async with app.run_test(size=showcase.SIZE) as pilot:
            await showcase.stage(app, pilot, scene)
            hint = str(app.query_one("#env-hint-DATABASE_URL", Static).render())
            hidden = app.query_one("#env-DATABASE_URL", Input).password
            return app.export_screenshot(), hint, hidden

    for scene in showcase.SCENES:
        svg, hint, hidden = asyncio.run(render(scene))
        assert showcase.PASSWORD not in svg, scene
        # the URL field is hidden; the hint under it says where it points, password masked
        assert hidden and "raptorflow:***@localhost:5432/raptorflow" in hint, scene


@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
@pytest.mark.parametrize("scene", ["rehearse", "recover"])
def test_rehearse_and_recover_modals(scene: str, size: tuple[int, int], snap_compare,
                                     project_dir: Path) -> None:
    app = showcase.make_app(project_dir, "migrations")
    assert snap_compare(app, terminal_size=size,
                        run_before=lambda pilot: showcase.stage_modal(app, pilot, scene))


@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
def test_after_a_branch_switch(size: tuple[int, int], snap_compare, project_dir: Path) -> None:
    app = showcase.make_app(project_dir, "migrations")
    assert snap_compare(app, terminal_size=size,
                        run_before=lambda pilot: showcase.stage_branch_switch(app, pilot))


def test_migrations_at_120x40(snap_compare, project_dir: Path) -> None:
    app = showcase.make_app(project_dir, "migrations")
    assert snap_compare(app, terminal_size=(120, 40),
                        run_before=lambda pilot: showcase.stage(app, pilot, "migrations"))

"""A failing revision shows the error and the revision the database is left at; a stamp goes
through the typed-name confirmation; a cancel stops at a revision boundary."""

from __future__ import annotations

from pathlib import Path

from rfsetup.core import alembic as migrations
from rfsetup.tui.app import RfsetupApp
from rfsetup.tui.modals.error import ErrorModal
from tests.helpers.alembic_project import make_project
from tests.tui.conftest import (
    FAST_POLL,
    confirm_ready,
    open_migrations,
    settings_for,
    type_into,
    wait_for,
)


async def test_failing_revision_names_where_the_database_is(fresh_db: str, project_dir: Path,
                                                            tmp_path_factory) -> None:
    project = make_project(tmp_path_factory.mktemp("failing"), revisions=3, fail_at=3)
    settings = settings_for(project_dir, fresh_db, alembic_ini=project.ini)
    app = RfsetupApp(settings, poll_interval=FAST_POLL)
    async with app.run_test(size=(80, 24)) as pilot:
        mig = await open_migrations(pilot, app)
        await pilot.press("u")
        await wait_for(pilot, lambda: isinstance(app.screen, ErrorModal), what="the error")
        last_good = project.ids[1]
        assert migrations.current_revisions(settings) == (last_good,)
        error = app.screen.error
        assert project.ids[2] in error.message  # the failing revision is named
        assert f"the database is left at: {last_good}" in (error.hint or "")
        assert f"the database is at: {last_good}" in str(app.query_one("#mig-result").render())
        assert not mig.running
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.report.current == (last_good,), what="the panel")


async def test_stamp_asks_for_the_name_then_stamps(fresh_db: str, project_dir: Path,
                                                  tmp_path_factory) -> None:
    project = make_project(tmp_path_factory.mktemp("stamp"), revisions=3)
    settings = settings_for(project_dir, fresh_db, alembic_ini=project.ini)
    database = settings.url().database
    app = RfsetupApp(settings, poll_interval=FAST_POLL)
    async with app.run_test(size=(80, 24)) as pilot:
        mig = await open_migrations(pilot, app)
        await pilot.press("home")  # the newest revision
        assert mig.selected_revision() == project.ids[-1]
        await pilot.press("s")
        await wait_for(pilot, lambda: confirm_ready(app), what="the confirm")
        assert project.ids[-1] in app.screen.sql
        await type_into(pilot, database)
        await pilot.press("enter")
        await wait_for(pilot, lambda: not mig.running and app.report.current
                       == (project.ids[-1],), what="the stamp")
        assert migrations.current_revisions(settings) == (project.ids[-1],)


async def test_cancel_stops_at_a_revision_boundary(fresh_db: str, project_dir: Path,
                                                   tmp_path_factory) -> None:
    project = make_project(tmp_path_factory.mktemp("cancel"), revisions=3, sleep_at=1,
                           sleep_seconds=1.5)
    settings = settings_for(project_dir, fresh_db, alembic_ini=project.ini)
    app = RfsetupApp(settings, poll_interval=FAST_POLL)
    async with app.run_test(size=(80, 24)) as pilot:
        mig = await open_migrations(pilot, app)
        assert not app.screen.active_bindings.get("x") or \
            not app.screen.active_bindings["x"].enabled
        await pilot.press("u")
        await wait_for(pilot, lambda: mig.running, what="the start")
        # the run is in a child process: press x once its first (slow) revision is running
        log = app.query_one("#mig-log")
        await wait_for(pilot, lambda: any("Running upgrade" in line.text for line in log.lines),
                       what="the first revision")
        await pilot.press("x")
        await wait_for(pilot, lambda: not mig.running, what="the stop")
        current = migrations.current_revisions(settings)
        assert current and current != (project.ids[-1],)  # stopped before the end
        assert "stopped" in str(app.query_one("#mig-result").render())

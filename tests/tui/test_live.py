"""The app stays answerable while a slow migration runs, and the live panel follows the server:
the diagnosis when it stops, the revision again when it is back."""

from __future__ import annotations

import gc
from pathlib import Path

from rfsetup.core import alembic as migrations
from rfsetup.core.alembic.planning import BASE
from rfsetup.core.embedded import EmbeddedPostgres
from rfsetup.tui import collector
from rfsetup.tui.app import RfsetupApp
from rfsetup.tui.widgets.status_panel import StatusPanel
from tests.conftest import FAST
from tests.helpers.alembic_project import make_project
from tests.helpers.db import version
from tests.tui.conftest import FAST_POLL, open_migrations, settings_for, wait_for


async def test_keys_answered_while_a_slow_migration_runs(fresh_db: str, project_dir: Path,
                                                         tmp_path_factory) -> None:
    # a synthetic project whose second revision holds the database for 3 s (pg_sleep)
    project = make_project(tmp_path_factory.mktemp("slow"), revisions=2, sleep_at=2,
                           sleep_seconds=3)
    settings = settings_for(project_dir, fresh_db, alembic_ini=project.ini)
    app = RfsetupApp(settings, poll_interval=FAST_POLL)
    async with app.run_test(size=(80, 24)) as pilot:
        mig = await open_migrations(pilot, app)
        await pilot.press("u")
        log = app.query_one("#mig-log")
        await wait_for(pilot, lambda: any(project.ids[1] in str(line.text) for line in log.lines),
                       what="the slow revision to start")
        assert mig.running
        # no full garbage collection walks the growing log while it runs (tui/collector.py)
        assert gc.get_threshold()[2] == collector.HELD
        # while it sleeps in the database, every key is handled: the step has changed while
        # the slow revision is still uncommitted (read from the database, not from a clock, so
        # a loaded machine cannot make it flaky; a UI blocked by the migration would fail it)
        for key, step in (("6", "verify"), ("1", "prerequisites"), ("4", "migrations")):
            await pilot.press(key)
            assert app.current_step == step
            assert version(fresh_db) != (project.ids[-1],), f"{key!r} waited for the migration"
        await pilot.press("u")  # a second upgrade is refused politely, not queued
        assert mig.running, "the migration is still running while the keys were answered"
        await wait_for(pilot, lambda: not mig.running, timeout=30, what="the migration")
        assert migrations.current_revisions(settings) == (project.ids[-1],)
        # the panel followed it right after the operation
        await wait_for(pilot, lambda: app.report.current == (project.ids[-1],), what="panel")
        # and the collector's usual threshold is back once the result has been on screen
        await wait_for(pilot, lambda: gc.get_threshold()[2] != collector.HELD, timeout=10,
                       what="the full passes to resume")
        await pilot.press("u")  # nothing to do, but a run: held again, and the app quits
    assert gc.get_threshold()[2] != collector.HELD, "a closed app gives back what it held"


async def test_panel_shows_the_diagnosis_and_recovers(tmp_path: Path, project_dir: Path) -> None:
    server = EmbeddedPostgres(tmp_path / "pg", server_settings=FAST)
    server.start()
    try:
        settings = settings_for(project_dir, server.url("postgres"))
        migrations.upgrade(settings, "0003_intel", backup=False)
        app = RfsetupApp(settings, poll_interval=FAST_POLL)
        async with app.run_test(size=(80, 24)) as pilot:
            panel = app.query_one(StatusPanel)
            mig = app.step_screen("migrations")

            def text() -> str:
                return str(panel.body.render())

            await wait_for(pilot, lambda: app.report is not None
                           and app.report.database.reachable, what="the first status")
            assert "PostgreSQL 16" in text()
            server.stop()
            # a poll that began while the server was shutting down may still arrive ("the
            # database system is shutting down"): wait for the settled diagnosis
            await wait_for(pilot, lambda: not app.report.database.reachable
                           and app.report.database.error is not None
                           and app.report.database.error.kind == "server_down",
                           what="the outage")
            error = app.report.database.error
            assert error is not None and error.kind == "server_down"
            assert "server not listening (connection refused)" in text()
            assert (error.hint or "")[:20] in text()
            assert panel.has_class("-unreachable")
            # step 1's checks follow the outage by themselves (no r pressed)
            prereqs = app.step_screen("prerequisites")

            def postgresql() -> str | None:
                found = [r.status for r in prereqs.results or () if r.name == "postgresql"]
                return found[0] if found and not prereqs.running else None

            await wait_for(pilot, lambda: postgresql() == "fail", what="the checks again")
            # Migrations: the revision is unknown, not base; nothing is chosen
            await pilot.press("4")
            await wait_for(pilot, lambda: mig.history_loaded and not mig.current_known,
                           what="the history without the database")
            assert str(mig.history.get_row(BASE)[0]) == ""  # base is not marked current
            assert "revision is unknown" in str(app.query_one("#mig-move").render())
            assert mig.choice is None
            await pilot.press("u")
            assert not mig.running  # refused: no move is planned from an unknown revision
            server.start()
            await wait_for(pilot, lambda: app.report.database.reachable, what="the recovery")
            await wait_for(pilot, lambda: mig.current_known and mig.current == ("0003_intel",),
                           what="the revision again in the history")
            assert mig.choice is not None
            await wait_for(pilot, lambda: postgresql() == "ok", what="the checks after it")
            assert "PostgreSQL 16" in text() and "not listening" not in text()
            assert not panel.has_class("-unreachable")
    finally:
        server.destroy()

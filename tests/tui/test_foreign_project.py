"""The Migrations step on another project whose env.py names its own version table, and has a
revision with no offline SQL: the true revision on screen, and a rollback by keys across it."""

from __future__ import annotations

from pathlib import Path

from rfsetup.tui.app import RfsetupApp
from tests.helpers.foreign import make_foreign, version_in
from tests.tui.conftest import FAST_POLL, confirm_ready, settings_for, wait_for


async def test_rollback_by_keys_on_a_project_with_its_own_version_table(
        pg, fresh_db: str, project_dir: Path, tmp_path: Path) -> None:
    other = pg.create_database()
    try:
        project = make_foreign(tmp_path, "generic", pg.url(other),
                           bodies=("create_a", "fill_a", "create_b", "queries"))
        project.configure_with('version_table="alembic_version_x"')
        settings = settings_for(project_dir, fresh_db, alembic_ini=project.ini)
        from rfsetup.core import alembic as migrations

        migrations.upgrade(settings, backup=False)
        r3, r4 = project.revisions[2], project.revisions[3]
        assert version_in(fresh_db, "alembic_version_x") == (r4,)
        database = settings.url().database

        app = RfsetupApp(settings, rollback=True, poll_interval=FAST_POLL)
        async with app.run_test(size=(80, 24)) as pilot:
            mig = app.step_screen("migrations")
            await wait_for(pilot, lambda: app.report is not None, what="the status")
            assert app.report.current == (r4,) and app.report.pending == 0
            await wait_for(pilot, lambda: mig.preview is not None, what="the rollback SQL")
            assert mig.current == (r4,)
            # r4's downgrade asks the database: its Python stands in for its SQL
            assert "has no offline SQL" in mig.preview.sql
            assert "def downgrade():" in mig.preview.sql
            await pilot.press("d")
            await wait_for(pilot, lambda: confirm_ready(app),
                           what="the confirmation")
            await pilot.press(*database, "enter")
            await wait_for(pilot, lambda: not mig.running and app.report is not None
                           and app.report.current == (r3,), what="the rollback")
        assert version_in(fresh_db, "alembic_version_x") == (r3,)
        assert version_in(fresh_db) == ()  # Alembic's default table was never created
        assert version_in(pg.url(other), "alembic_version_x") == ()
    finally:
        pg.drop_database(other)

"""`rfsetup rollback`: launch on Migrations with "one step down" chosen and its SQL on screen,
then d, the database name and Enter. A wrong name or Escape changes nothing."""

from __future__ import annotations

from pathlib import Path

from rfsetup.core import alembic as migrations
from rfsetup.core.backups import list_backups
from rfsetup.tui.app import RfsetupApp
from rfsetup.tui.modals.confirm import ConfirmModal
from rfsetup.tui.modals.error import ErrorModal
from rfsetup.tui.screens.migrations import DOWN_ONE
from tests.tui.conftest import FAST_POLL, confirm_ready, settings_for, type_into, wait_for


async def test_rollback_in_two_keys_plus_the_name(fresh_db: str, redis_server,
                                                  project_dir: Path) -> None:
    settings = settings_for(project_dir, fresh_db, redis_server.url())
    migrations.upgrade(settings, backup=False)
    heads = tuple(migrations.heads(settings))
    parent = next(r.down_revisions for r in migrations.history(settings, current=heads)
                  if r.revision == heads[0])
    database = settings.url().database

    app = RfsetupApp(settings, rollback=True, poll_interval=FAST_POLL)
    async with app.run_test(size=(80, 24)) as pilot:
        mig = app.step_screen("migrations")
        assert app.current_step == "migrations"
        # launched with one step down chosen and its SQL on screen
        await wait_for(pilot, lambda: mig.preview is not None, what="the rollback SQL")
        assert mig.choice == DOWN_ONE and mig.preview_move == DOWN_ONE
        assert mig.preview.direction == "down" and mig.preview.from_revisions == heads
        assert app.query_one("#mig-sql").sql == mig.preview.sql and "DROP" in mig.preview.sql

        # a wrong name is refused, Escape cancels: nothing changes
        await pilot.press("d")
        assert isinstance(app.screen, ConfirmModal)
        await type_into(pilot, "not-" + database)
        await pilot.press("enter")
        assert isinstance(app.screen, ConfirmModal)
        await pilot.press("escape")
        assert not isinstance(app.screen, ConfirmModal)
        assert migrations.current_revisions(settings) == heads and not mig.running

        # the incident path: d, the name, Enter
        presses = ["d", *database, "enter"]
        await pilot.press(*presses)
        assert len(presses) - len(database) <= 5
        await wait_for(pilot, lambda: not mig.running and app.report is not None
                       and app.report.current == parent, what="the rollback")
        assert migrations.current_revisions(settings) == parent
        (backup,) = list_backups(settings)
        assert backup.revision == heads[0]  # the backup was taken before the downgrade
        # at 80 columns the backup's path is shortened in the middle: its end stays
        result = str(app.query_one("#mig-result").render())
        assert "backup: .rfsetup/" in result and "…" in result
        assert result.endswith(Path(backup.path).name[-24:])
        assert len(result.splitlines()[-1]) <= app.query_one("#mig-result").size.width
        log = "".join(strip.text.strip() for strip in app.query_one("#mig-log").lines)
        assert Path(backup.path).name in log  # the log has it whole


async def test_rollback_at_base_says_there_is_nothing_to_undo(fresh_db: str, project_dir: Path
                                                            ) -> None:
    settings = settings_for(project_dir, fresh_db)
    app = RfsetupApp(settings, rollback=True, poll_interval=FAST_POLL)
    async with app.run_test(size=(80, 24)) as pilot:
        mig = app.step_screen("migrations")
        await wait_for(pilot, lambda: mig.history_loaded, what="the history")
        await pilot.pause(0.3)
        assert mig.choice is None  # the database is at base: no move
        assert mig.preview is None
        assert "nothing to run" in app.query_one("#mig-sql").message
        await pilot.press("d")
        await pilot.pause(0.2)
        assert not isinstance(app.screen, ConfirmModal) and not mig.running
        assert "nothing to roll back" in str(app.query_one("#mig-result").render())
        assert migrations.current_revisions(settings) == ()


async def test_a_rollback_confirmed_after_a_colleague_moved_runs_nothing(
        fresh_db: str, project_dir: Path) -> None:
    """The confirmation showed 0004 → 0003; a colleague rolled back meanwhile: under the lock
    the database is no longer at 0004, so nothing runs and the modal says so."""
    settings = settings_for(project_dir, fresh_db)
    migrations.upgrade(settings, backup=False)
    database = settings.url().database
    app = RfsetupApp(settings, rollback=True, poll_interval=60)  # no refresh meanwhile
    async with app.run_test(size=(80, 24)) as pilot:
        mig = app.step_screen("migrations")
        await wait_for(pilot, lambda: mig.preview is not None, what="the rollback SQL")
        assert mig.preview.from_revisions == ("0004_production_indexes",)
        await pilot.press("d")
        await wait_for(pilot, lambda: confirm_ready(app), what="the modal")
        migrations.downgrade(settings, backup=False)  # the colleague, from another terminal
        await pilot.press(*database, "enter")
        await wait_for(pilot, lambda: not mig.running and "moved" in str(
            app.query_one("#mig-result").render()), what="the refusal")
        result = str(app.query_one("#mig-result").render())
        assert "0004_production_indexes to 0003_intel since this was confirmed" in result
        assert "nothing was done" in result
        # and the refusal is the modal's too: read, then closed (not left to the app's exit)
        await wait_for(pilot, lambda: isinstance(app.screen, ErrorModal), what="the modal")
        assert "nothing was done" in app.screen.error.message  # type: ignore[attr-defined]
        await pilot.press("escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, ErrorModal), what="closed")
    assert migrations.current_revisions(settings) == ("0003_intel",)  # one step, not two
    assert list_backups(settings) == []

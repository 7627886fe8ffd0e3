"""The on-call engineer's path in the TUI, on the real servers: Ctrl+Q during a migration asks
and never leaves it headless, the live line shows the revision, the elapsed time and a
colleague's lock, the rollback's confirmation says what it drops and forgives a wrong name."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import psycopg2
import pytest

from rfsetup.core import alembic as migrations
from rfsetup.core import locking
from rfsetup.tui.app import RfsetupApp
from rfsetup.tui.modals.confirm import PLACEHOLDER, ConfirmModal
from rfsetup.tui.modals.quit import QuitModal
from tests.helpers.alembic_project import SyntheticProject, make_project
from tests.helpers.db import libpq, query, version
from tests.tui.conftest import (
    FAST_POLL,
    confirm_ready,
    open_migrations,
    settings_for,
    type_into,
    wait_for,
)

COLLEAGUE = "rfsetup migrate (alice@ops-1 pid 4242)"


@pytest.fixture(scope="module")
def slow(tmp_path_factory: pytest.TempPathFactory) -> SyntheticProject:
    """Three revisions; the second holds the database 4 s in one statement (pg_sleep)."""
    return make_project(tmp_path_factory.mktemp("slow"), revisions=3, sleep_at=2,
                        sleep_seconds=4)


def result_text(app: RfsetupApp) -> str:
    return str(app.query_one("#mig-result").render())


async def _wait_exit(pilot, app: RfsetupApp, timeout: float = 60) -> None:
    await wait_for(pilot, lambda: app.return_code is not None, timeout=timeout,
                   what="the app to quit")


async def test_ctrl_q_asks_keeps_running_then_cancels_at_the_boundary_and_says_where(
        slow: SyntheticProject, fresh_db: str, project_dir: Path) -> None:
    settings = settings_for(project_dir, fresh_db, alembic_ini=slow.ini)
    app = RfsetupApp(settings, poll_interval=FAST_POLL)
    async with app.run_test(size=(80, 24)) as pilot:
        mig = await open_migrations(pilot, app)
        await pilot.press("u")
        # the live line: the slow revision, which of how many
        await wait_for(pilot, lambda: mig.progress is not None and mig.progress.step is not None
                       and mig.progress.step[0] == 2, what="the slow revision")
        # drawn within LIVE_EVERY of the step (the line is redrawn at most that often)
        await wait_for(pilot, lambda: f"revision 2 of 3 ({slow.ids[1]})" in result_text(app),
                       what="the live line")
        await pilot.press("ctrl+q")
        assert isinstance(app.screen, QuitModal) and app.return_code is None
        status = str(app.screen.query_one("#quit-status").render())
        assert "upgrade to head on database" in status and "revision 2 of 3" in status
        assert " s" in status  # the elapsed time
        await pilot.press("escape")  # keep running: nothing changes
        assert not isinstance(app.screen, QuitModal) and mig.running
        assert app.return_code is None
        await pilot.press("ctrl+q")
        await pilot.press("c")  # cancel at the next revision boundary, then quit
        assert app.return_code is None and mig.running  # never under a running migration
        assert "cancel requested" in result_text(app)
        await _wait_exit(pilot, app)
        outcome = str(app._exit_renderables[0])
    assert app.return_code == 130
    # the running revision finished; the third never ran; the terminal is told so
    assert version(fresh_db) == (slow.ids[1],)
    assert "stopped at a revision boundary" in outcome
    assert f"is at {slow.ids[1]}" in outcome and "backup:" in outcome


async def test_interrupt_from_the_quit_dialog_rolls_back_the_running_statement(
        slow: SyntheticProject, fresh_db: str, project_dir: Path) -> None:
    settings = settings_for(project_dir, fresh_db, alembic_ini=slow.ini)
    app = RfsetupApp(settings, poll_interval=FAST_POLL)
    async with app.run_test(size=(80, 24)) as pilot:
        mig = await open_migrations(pilot, app)
        await pilot.press("u")
        await wait_for(pilot, lambda: mig.progress is not None and mig.progress.step is not None
                       and mig.progress.step[0] == 2, what="the slow revision")
        await pilot.pause(0.5)  # inside its pg_sleep
        await pilot.press("ctrl+q", "i")
        await _wait_exit(pilot, app, timeout=30)
        outcome = str(app._exit_renderables[0])
    assert app.return_code != 0
    assert version(fresh_db) == (slow.ids[0],)  # the interrupted revision was rolled back
    assert "did not finish" in outcome and f"is at: {slow.ids[0]}" in outcome


@pytest.fixture
def colleague(fresh_db: str) -> Iterator[psycopg2.extensions.connection]:
    """A colleague's rfsetup holding the migration lock (released by closing it)."""
    conn = psycopg2.connect(libpq(fresh_db), application_name=COLLEAGUE)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("SELECT pg_advisory_lock(%s)", (locking.lock_key(),))
    yield conn
    conn.close()


async def test_the_lock_wait_is_shown_live_then_the_run_proceeds(
        slow: SyntheticProject, fresh_db: str, project_dir: Path, colleague,
        ) -> None:
    # RFSETUP_LOCK_WAIT as the Settings carry it (to the child runner too)
    settings = dataclasses.replace(settings_for(project_dir, fresh_db, alembic_ini=slow.ini),
                                   lock_wait=30.0)
    app = RfsetupApp(settings, poll_interval=FAST_POLL)
    async with app.run_test(size=(80, 24)) as pilot:
        mig = await open_migrations(pilot, app)
        await pilot.press("u")
        held = "for the migration lock held by alice@ops-1 pid 4242"
        await wait_for(pilot, lambda: f"waiting 2 s of 30 s {held}" in result_text(app),
                       what="the wait, live")
        await wait_for(pilot, lambda: f"waiting 3 s of 30 s {held}" in result_text(app),
                       what="the next second, in place")
        assert result_text(app).count("waiting") == 1  # one line, redrawn
        log = "\n".join(line.text for line in app.query_one("#mig-log").lines)
        assert "waiting up to 30s" in log and "waiting 3 s" not in log  # ticks stay out
        colleague.close()  # the colleague is done
        await wait_for(pilot, lambda: not mig.running, timeout=60, what="the migration")
        assert "waiting" not in result_text(app) and "✓" in result_text(app)
    assert version(fresh_db) == (slow.ids[-1],)


async def test_rollback_to_base_says_the_data_lost_and_forgives_a_wrong_name(
        fresh_db: str, redis_server, project_dir: Path) -> None:
    settings = settings_for(project_dir, fresh_db, redis_server.url())
    migrations.upgrade(settings, backup=False)
    query(fresh_db, "INSERT INTO users (auth_sub) SELECT 'user-' || g "
                    "FROM generate_series(1, 1234) g; ANALYZE")
    database = settings.url().database
    app = RfsetupApp(settings, poll_interval=FAST_POLL)
    async with app.run_test(size=(80, 24)) as pilot:
        mig = await open_migrations(pilot, app)
        await pilot.press("b")
        await wait_for(pilot, lambda: confirm_ready(app), what="the modal")
        modal = app.screen
        impact = str(modal.query_one("#confirm-impact").render())
        assert impact.startswith("! rollback to base: 15 tables with ~1,234 rows will be "
                                 "dropped; all their data is lost")
        assert "users ~1,234" in impact
        # the statements that matter first, then the full SQL
        sql = modal.query_one("#confirm-sql")
        assert sql.text.splitlines()[0] == \
            "-- 20 statements change the schema or data (4 revisions):"
        assert sql.text.index("DROP TABLE users;") < sql.text.index("   1 BEGIN;")
        field = modal.query_one("#confirm-input")
        assert field.placeholder == PLACEHOLDER and field.value == ""
        height = field.outer_size.height
        await type_into(pilot, database[:-1] + "x")
        await pilot.press("enter")
        assert isinstance(app.screen, ConfirmModal)  # refused, said in the modal
        error = modal.query_one("#confirm-error")
        assert error.display and f"is not {database}" in str(error.render())
        assert field.value == database[:-1] + "x" and field.outer_size.height == height
        assert (field.selection.start, field.selection.end) in \
            ((0, len(field.value)), (len(field.value), 0))  # selected: typing replaces it
        await type_into(pilot, database)
        assert field.value == database and not error.display
        await pilot.press("enter")
        await wait_for(pilot, lambda: not mig.running and app.report is not None
                       and app.report.current == (), timeout=60, what="the rollback")
    assert version(fresh_db) == ()


async def test_the_live_panel_takes_focus_and_scrolls(fresh_db: str, redis_server,
                                                      project_dir: Path) -> None:
    from rfsetup.tui.widgets.status_panel import StatusPanel

    settings = settings_for(project_dir, fresh_db, redis_server.url())
    migrations.upgrade(settings, backup=False)
    app = RfsetupApp(settings, poll_interval=FAST_POLL)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: app.report is not None and app.report.tables,
                       what="the tables")
        panel = app.query_one(StatusPanel)
        await pilot.pause(0.2)
        assert panel.max_scroll_y > 0  # at 80x24 it holds more than it shows
        await pilot.press("l")
        assert app.focused is panel
        await pilot.press("end")
        await wait_for(pilot, lambda: panel.scroll_y == panel.max_scroll_y, what="scrolled")
        assert "workspaces" in str(panel.body.render())
        await pilot.press("l")
        assert app.focused is not panel

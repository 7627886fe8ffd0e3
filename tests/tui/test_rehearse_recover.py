"""Rehearse (R on Migrations) and recover (v on Migrations) in the real app, against the real
server and, for the branch switch, a real git repository made here."""

from __future__ import annotations

from pathlib import Path

from rfsetup.core import alembic as migrations
from rfsetup.core.alembic.planning import BASE
from rfsetup.core.rehearsecopy import PREFIX
from rfsetup.tui.app import RfsetupApp
from rfsetup.tui.modals.recovery import RecoveryModal
from rfsetup.tui.modals.rehearse import RehearseModal
from rfsetup.tui.widgets.log_pane import LogPane
from tests.conftest import PgTestServer
from tests.core.test_recovery import Repo
from tests.core.test_rehearse import databases, snapshot
from tests.helpers.alembic_project import make_project, rev_id
from tests.tui.conftest import (
    FAST_POLL,
    confirm_ready,
    open_migrations,
    settings_for,
    type_into,
    wait_for,
)


def _log_text(log: LogPane) -> str:
    return "\n".join(map(str, log._pending)) + "\n".join(
        "".join(segment.text for segment in strip) for strip in log.lines)


def _text(app: RfsetupApp, selector: str) -> str:
    return str(app.screen.query_one(selector).render())


async def test_rehearse_from_migrations(pg: PgTestServer, fresh_db: str, project_dir: Path,
                                        tmp_path_factory) -> None:
    project = make_project(tmp_path_factory.mktemp("rehearse"), revisions=3)
    settings = settings_for(project_dir, fresh_db, alembic_ini=project.ini)
    migrations.upgrade(settings, project.ids[0], backup=False)
    before, listed = snapshot(fresh_db), databases(pg)
    app = RfsetupApp(settings, poll_interval=FAST_POLL)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_migrations(pilot, app)
        await pilot.press("R")
        await wait_for(pilot, lambda: isinstance(app.screen, RehearseModal), what="the modal")
        modal = app.screen
        await wait_for(pilot, lambda: modal.report is not None, timeout=90, what="the report")
        assert modal.report.passed and len(modal.report.revisions) == 2
        body = _text(app, "#rehearse-body")
        assert "✓ the schema after up → down → up" in body
        assert "The rehearsal passed." in _text(app, "#rehearse-summary")
        await pilot.press("escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, RehearseModal),
                       what="closed")
    assert snapshot(fresh_db) == before and databases(pg) == listed


async def test_escape_mid_rehearsal_drops_the_copy(pg: PgTestServer, fresh_db: str,
                                                   project_dir: Path, tmp_path_factory) -> None:
    project = make_project(tmp_path_factory.mktemp("slow"), revisions=3, sleep_at=2,
                           sleep_seconds=3)
    settings = settings_for(project_dir, fresh_db, alembic_ini=project.ini)
    before, listed = snapshot(fresh_db), databases(pg)
    app = RfsetupApp(settings, poll_interval=FAST_POLL)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_migrations(pilot, app)
        await pilot.press("R")
        await wait_for(pilot, lambda: isinstance(app.screen, RehearseModal), what="the modal")
        modal = app.screen
        await wait_for(pilot, lambda: any(d.startswith(PREFIX) for d in databases(pg)),
                       timeout=60, what="the copy")
        # only once the 3 s revision runs can the first Escape wait for "the next revision"
        # and the second one interrupt it (pressed earlier, the first one can finish the
        # stop before the second arrives, which then closes the modal)
        log = modal.query_one("#rehearse-log", LogPane)
        await wait_for(pilot, lambda: f"-> {rev_id(2)}" in _log_text(log), timeout=60,
                       what="the slow revision")
        await pilot.press("escape")  # stop at the next revision
        await pilot.press("escape")  # and now
        await wait_for(pilot, lambda: not modal.running, timeout=60, what="the stop")
        assert "rehearsal interrupted" in _text(app, "#rehearse-summary")
        await pilot.press("escape")
    assert snapshot(fresh_db) == before and databases(pg) == listed


async def test_recover_after_a_branch_switch(fresh_db: str, project_dir: Path,
                                             tmp_path_factory) -> None:
    repo = Repo(tmp_path_factory.mktemp("git") / "app")
    settings = settings_for(project_dir, fresh_db, alembic_ini=repo.project.ini)
    migrations.upgrade(settings, "head", backup=False)
    repo.switch("main")
    database = settings.url().database
    app = RfsetupApp(settings, poll_interval=FAST_POLL)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("4")
        panel = app.query_one("#status-body")
        await wait_for(pilot, lambda: "the branch that has it" in str(panel.render()),
                       what="the panel's pointer")
        result = app.query_one("#mig-result")
        await wait_for(pilot, lambda: "is on branch feature/billing" in str(result.render()),
                       what="the Migrations line")
        assert "v shows the ways out" in str(result.render())
        mig = app.step_screen("migrations")
        await wait_for(pilot, lambda: mig.history_loaded, what="the history")
        # the database is at the other branch's revision, not at base
        assert mig.current == ("f4_payments",)
        assert str(mig.history.get_cell(BASE, "marks")) == ""
        await pilot.press("v")
        await wait_for(pilot, lambda: isinstance(app.screen, RecoveryModal), what="the modal")
        modal = app.screen
        await wait_for(pilot, lambda: modal.recovery is not None, what="the diagnosis")
        body = _text(app, "#recover-body")
        assert "git switch feature/billing" in body and repo.r2 in body
        await pilot.press("s")
        await wait_for(pilot, lambda: confirm_ready(app), what="the confirm")
        await type_into(pilot, database)
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.report is not None and app.report.current
                       == (repo.r2,), what="the stamp")
    assert migrations.current_revisions(settings) == (repo.r2,)

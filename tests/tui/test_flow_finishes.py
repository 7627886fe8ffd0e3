"""Shown is what happened, and the flow finishes (issue 10, items 5 and 7, and doctor's Enter),
on the real test servers: Seed says "inserted" for what it just inserted, Verify's row
estimates are the panel's, Verify is done only once the plans are seeded, every step names
the next one, the checks run again after the .env is saved, Enter on a failing check goes to
the step that fixes it, and the ready summary comes when everything is done."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.engine import make_url
from textual.widgets import DataTable, Input, Static

from rfsetup.core import alembic as migrations
from rfsetup.core.envfile import EnvFile
from rfsetup.core.settings import load_settings
from rfsetup.tui.app import RfsetupApp
from rfsetup.tui.modals.changes import ChangesModal
from rfsetup.tui.modals.ready import ReadyModal
from rfsetup.tui.state import StepState
from rfsetup.tui.widgets.check_table import CheckTable
from rfsetup.tui.widgets.step_list import StepList
from tests.conftest import ALEMBIC_INI
from tests.core.test_prereqs import GOOD_ENV
from tests.tui.conftest import FAST_POLL, confirm_ready, settings_for, type_into, wait_for

SIZE = (120, 40)


def _env(project: Path, database_url: str, redis_url: str, **overrides: str) -> Path:
    values = {**GOOD_ENV, "DATABASE_URL": database_url, "REDIS_URL": redis_url, **overrides}
    path = project / ".env"
    path.write_text("".join(f"{k}={v}\n" for k, v in values.items() if v))
    return path


def _text(app: RfsetupApp, selector: str) -> str:
    return str(app.query_one(selector, Static).render())


def _panel_rows(app: RfsetupApp) -> dict[str, int]:
    return {t.name: t.rows for t in app.report.tables} if app.report else {}


async def test_seed_verify_and_the_ready_summary(fresh_db: str, redis_server, project_dir: Path
                                                 ) -> None:
    _env(project_dir, fresh_db, redis_server.url())
    settings = load_settings(None, ALEMBIC_INI, environ={}, cwd=project_dir)
    migrations.upgrade(settings, backup=False)
    app = RfsetupApp(settings_for(project_dir, None), poll_interval=FAST_POLL)
    async with app.run_test(size=SIZE) as pilot:
        steps = app.query_one(StepList)
        prereqs = app.step_screen("prerequisites")
        await wait_for(pilot, lambda: prereqs.results is not None and not prereqs.running,
                       what="the doctor")
        assert not [(r.name, r.detail) for r in prereqs.results if r.status == "fail"]
        await wait_for(pilot, lambda: steps.states["prerequisites"] is StepState.DONE,
                       what="step 1 done")
        # once steps 2-4 are known done, the hint skips them: the seed is what is left
        for done in ("environment", "database", "migrations"):
            await wait_for(pilot, lambda d=done: steps.states[d] is StepState.DONE,
                           what=f"{done} done")
        # the hint follows the step list by itself (no re-run): it was written before
        # steps 2-4 were known
        await wait_for(pilot, lambda: "Next: 5 Seed (press 5)" in _text(app, "#doctor-summary"),
                       what="the hint once the states are known")
        # -- Verify before the seed: the tables are there, but it is not done ----------------
        verify = app.step_screen("verify")
        await pilot.press("6")
        await wait_for(pilot, lambda: verify.checked, what="the tables")
        assert verify.seeded is False
        await wait_for(pilot, lambda: steps.states["verify"] is StepState.ATTENTION,
                       what="step 6 needs attention")
        assert "not seeded" in _text(app, "#verify-summary")
        # -- Seed: apply; the rows say inserted, not unchanged -------------------------------
        await pilot.press("5")
        seed = app.step_screen("seed")
        await wait_for(pilot, lambda: seed.report is not None, what="the seed plan")
        await pilot.press("a")
        await wait_for(pilot, lambda: seed.applied is not None and seed.report is not None
                       and not seed.report.changed, what="seeding and the check after")
        table = app.query_one("#seed-table", DataTable)
        actions = [str(table.get_cell(plan, "action")) for plan in ("free", "pro", "enterprise")]
        assert actions == ["+ inserted"] * 3
        assert "Next: 6 Verify (press 6)" in _text(app, "#seed-summary")
        # -- Verify: the panel's estimates, and done once seeded -----------------------------
        await pilot.press("6")
        await wait_for(pilot, lambda: verify.seeded is True, what="the seed seen by Verify")
        await wait_for(pilot, lambda: _panel_rows(app).get("plans") == 3,
                       what="the panel's estimate of plans")
        tables = app.query_one("#verify-tables", DataTable)
        await wait_for(pilot, lambda: str(tables.get_cell("plans", "rows")) == "~3",
                       what="Verify's estimate of plans")
        panel = _panel_rows(app)
        for info in verify.tables:
            if info.name in panel:
                assert str(tables.get_cell(info.name, "rows")) == f"~{panel[info.name]:,}"
        await wait_for(pilot, lambda: steps.states["verify"] is StepState.DONE,
                       what="step 6 done")
        # -- everything done: the ready summary, once ----------------------------------------
        await wait_for(pilot, lambda: steps.all_done, what="every step done")
        await wait_for(pilot, lambda: isinstance(app.screen, ReadyModal), what="the summary")
        ready = app.screen.ready
        assert ready.ready and ready.seeded and not ready.missing
        body = "\n".join(ready.lines())
        assert "Ready" in body and ":***@" in body
        password = make_url(fresh_db).password
        assert password and password not in body
        assert password not in app.export_screenshot()  # nor on screen
        await pilot.press("enter")
        await wait_for(pilot, lambda: not isinstance(app.screen, ReadyModal), what="closed")
        assert "Ready" in _text(app, "#verify-summary")


async def test_checks_run_again_after_the_env_is_saved_and_enter_goes_to_the_fix(
        fresh_db: str, redis_server, project_dir: Path) -> None:
    env_path = _env(project_dir, fresh_db, redis_server.url(), RAZORPAY_KEY_ID="")
    app = RfsetupApp(settings_for(project_dir, None), poll_interval=FAST_POLL)
    async with app.run_test(size=SIZE) as pilot:
        prereqs = app.step_screen("prerequisites")
        await wait_for(pilot, lambda: prereqs.results is not None and not prereqs.running,
                       what="the doctor")
        failing = {r.name: r for r in prereqs.results if r.status == "fail"}
        assert list(failing) == [".env"] and "RAZORPAY_KEY_ID" in failing[".env"].detail
        table = app.query_one(CheckTable)
        table.focus()
        table.move_cursor(row=[r.name for r in prereqs.results].index(".env"))
        await pilot.pause()
        assert "Enter: go to 2 Environment" in _text(app, "#doctor-remedy")
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.current_step == "environment", what="the jump")
        env = app.step_screen("environment")
        await wait_for(pilot, lambda: env.document is not None, what="the .env form")
        field = app.query_one("#env-RAZORPAY_KEY_ID", Input)
        field.focus()
        await type_into(pilot, "rzp_test_Fixed123")
        before = prereqs.checked_with
        steps = app.query_one(StepList)
        await wait_for(pilot, lambda: steps.states["database"] is StepState.DONE,
                       what="step 3 known done")
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: isinstance(app.screen, ChangesModal), what="the changes")
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: env.saved_note is not None, what="the save")
        # step 3 is done already (DATABASE_URL connects): the hint goes on to the migrations
        assert "Next: 4 Migrations (press 4)" in _text(app, "#env-path")
        # the checks ran again, on the new .env, by themselves
        await wait_for(pilot, lambda: prereqs.checked_with is not before and not
                       prereqs.running and prereqs.results is not None, what="the re-run")
        assert all(r.status != "fail" for r in prereqs.results), prereqs.results
        await wait_for(pilot, lambda: app.query_one(StepList).states["prerequisites"]
                       is StepState.DONE, what="step 1 done")
    assert EnvFile.load(env_path).get("RAZORPAY_KEY_ID") == "rzp_test_Fixed123"


async def test_enter_on_a_missing_database_goes_to_the_database_step(
        pg, redis_server, project_dir: Path) -> None:
    missing = pg.url("no_such_db_here", scheme="postgresql")
    _env(project_dir, missing, redis_server.url())
    app = RfsetupApp(settings_for(project_dir, None), poll_interval=FAST_POLL)
    async with app.run_test(size=SIZE) as pilot:
        prereqs = app.step_screen("prerequisites")
        await wait_for(pilot, lambda: prereqs.results is not None and not prereqs.running,
                       what="the doctor")
        names = [r.name for r in prereqs.results]
        assert prereqs.results[names.index("postgresql")].status == "fail"
        table = app.query_one(CheckTable)
        table.focus()
        table.move_cursor(row=names.index("postgresql"))
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.current_step == "database", what="the jump")
        # a check rfsetup does not fix stays where it is and says so
        await pilot.press("1")
        table.focus()
        table.move_cursor(row=names.index("python"))
        await pilot.press("enter")
        assert app.current_step == "prerequisites"


def test_the_panel_never_splits_host_and_port() -> None:
    """At 80 columns the panel is 26 wide: the sandbox's long target breaks before the
    database, never inside host:port (the panel's own target_text)."""
    from rfsetup.core.status import DatabaseStatus, StatusReport
    from rfsetup.tui.widgets.status_panel import render_status

    url = "postgresql+psycopg2://raptorflow:***@127.0.0.1:54321/raptorflow"
    report = StatusReport(DatabaseStatus(True, url, server_version="16.2"), (), ("h",), 1, (),
                          None)
    lines = render_status(report, width=26).plain.splitlines()
    assert any(line.endswith("127.0.0.1:54321") for line in lines[1:3]), lines
    assert "/raptorflow" in lines[1:4]


async def test_the_guided_sandbox_path_writes_redis_url(pg, redis_server, project_dir: Path,
                                                        role_name: str) -> None:
    """On the sandbox (its URLs stand in the settings as the CLI's --sandbox puts them, here
    the test servers), step 2 says DATABASE_URL and REDIS_URL come from the sandbox for now,
    step 3 is not done until the .env names them, and creating there writes both."""
    from dataclasses import replace

    from tests.tui.conftest import settings_for as base_settings

    values = {k: v for k, v in GOOD_ENV.items() if k != "DATABASE_URL"}
    env_path = project_dir / ".env"
    env_path.write_text("".join(f"{k}={v}\n" for k, v in values.items()))
    sandboxed = base_settings(project_dir, None).with_urls(
        pg.url("postgres"), redis_server.url(), "sandbox")
    app = RfsetupApp(replace(sandboxed, sandbox=True), poll_interval=FAST_POLL)
    async with app.run_test(size=SIZE) as pilot:
        steps = app.query_one(StepList)
        await pilot.press("2")
        env = app.step_screen("environment")
        await wait_for(pilot, lambda: env.document is not None, what="the .env form")
        assert "uses the sandbox's" in _text(app, "#env-hint-REDIS_URL")
        # the sandbox supplies DATABASE_URL for now; step 3 is not done: the .env lacks it
        await wait_for(pilot, lambda: steps.states["environment"] is StepState.DONE,
                       what="step 2 done")
        await wait_for(pilot, lambda: app.report is not None, what="the status")
        assert steps.states["database"] is StepState.NOT_YET
        await pilot.press("escape", "3")
        await pilot.press("tab")
        await type_into(pilot, f"postgresql://postgres@127.0.0.1:{pg.port}/postgres")
        await pilot.press("tab")
        await type_into(pilot, pg.server.superuser_password)
        await pilot.press("tab")
        await type_into(pilot, role_name)
        await pilot.press("tab")
        await type_into(pilot, role_name)
        await pilot.press("tab")
        await type_into(pilot, "sandbox-role-pw")
        database = app.step_screen("database")
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: database.result is not None, what="provisioning")
        await wait_for(pilot, lambda: env.document is not None and
                       env.document.get("DATABASE_URL"), what="the form reloaded")
        await wait_for(pilot, lambda: steps.states["database"] is StepState.DONE,
                       what="step 3 done")
        assert "DATABASE_URL and REDIS_URL written" in _text(app, "#db-result")
    written = EnvFile.load(env_path).values()
    assert written["REDIS_URL"] == redis_server.url()
    assert "sandbox-role-pw" in written["DATABASE_URL"]


async def test_a_database_found_ready_at_launch_gets_no_dialog_over_the_rollback(
        fresh_db: str, redis_server, project_dir: Path) -> None:
    """The ready dialog is for a setup finished in this session: on-call's `rfsetup rollback`
    on a ready database opens on the rollback, with `d` working, and Verify has the summary."""
    from rfsetup.core.seeding import seed

    _env(project_dir, fresh_db, redis_server.url())
    settings = load_settings(None, ALEMBIC_INI, environ={}, cwd=project_dir)
    migrations.upgrade(settings, backup=False)
    seed(settings)
    app = RfsetupApp(settings_for(project_dir, None), rollback=True, poll_interval=FAST_POLL)
    async with app.run_test(size=SIZE) as pilot:
        steps = app.query_one(StepList)
        verify = app.step_screen("verify")
        await wait_for(pilot, lambda: steps.all_done, timeout=60, what="every step done")
        await wait_for(pilot, lambda: verify.ready is not None, what="the ready summary read")
        assert "Ready" in _text(app, "#verify-summary")
        assert not isinstance(app.screen, ReadyModal)
        await wait_for(pilot, lambda: "All six steps are done." in _text(app, "#doctor-summary"),
                       what="step 1's hint, every step done")
        mig = app.step_screen("migrations")
        await wait_for(pilot, lambda: mig.preview is not None, what="the rollback SQL")
        await pilot.press("d")
        await wait_for(pilot, lambda: confirm_ready(app), what="the modal")
        await pilot.press("escape")


async def test_a_server_that_is_not_running_is_not_sent_to_a_step(
        redis_server, project_dir: Path) -> None:
    """A refused port is started outside rfsetup's steps (the remedy says how): Enter does
    not jump to Database & role, whose form cannot start a server."""
    from rfsetup.core.embedded import free_port

    _env(project_dir, f"postgresql+psycopg2://raptorflow:pw@127.0.0.1:{free_port()}/raptorflow",
         redis_server.url())
    app = RfsetupApp(settings_for(project_dir, None), poll_interval=FAST_POLL)
    async with app.run_test(size=SIZE) as pilot:
        prereqs = app.step_screen("prerequisites")
        await wait_for(pilot, lambda: prereqs.results is not None and not prereqs.running,
                       what="the doctor")
        names = [r.name for r in prereqs.results]
        postgresql = prereqs.results[names.index("postgresql")]
        assert postgresql.status == "fail" and postgresql.kind == "server_down"
        table = app.query_one(CheckTable)
        table.focus()
        table.move_cursor(row=names.index("postgresql"))
        await pilot.pause()
        assert "fixed outside rfsetup" in _text(app, "#doctor-remedy")
        await pilot.press("enter")
        await pilot.pause()
        assert app.current_step == "prerequisites"

"""A full first-time setup by keys alone, on the real servers, then one revision back.

From a project directory with no .env: check the prerequisites, fill the .env, create the role
and its database, migrate to head, seed, verify the tables, and roll back one step. Every result
is read back with the core (not from the screen).
"""

from __future__ import annotations

from pathlib import Path

import psycopg2
from sqlalchemy.engine import make_url
from textual.widgets import Input

from rfsetup.core import alembic as migrations
from rfsetup.core.backups import list_backups
from rfsetup.core.envfile import EnvFile
from rfsetup.core.seeding import seed
from rfsetup.core.settings import load_settings
from rfsetup.tui.app import RfsetupApp
from rfsetup.tui.modals.changes import ChangesModal
from rfsetup.tui.modals.error import ErrorModal
from rfsetup.tui.state import StepState
from rfsetup.tui.widgets.step_list import StepList
from tests.conftest import ALEMBIC_INI
from tests.tui.conftest import (
    FAST_POLL,
    confirm_ready,
    open_migrations,
    settings_for,
    type_into,
    wait_for,
)

ROLE_PASSWORD = "p@ss w'rd\"$ü"  # needs quoting and URL-escaping everywhere


async def test_first_time_setup_then_roll_back_one(pg, redis_server, project_dir: Path,
                                                   role_name: str) -> None:
    settings = settings_for(project_dir, None)
    assert settings.database_url is None and not (project_dir / ".env").exists()
    app = RfsetupApp(settings, poll_interval=FAST_POLL)
    async with app.run_test(size=(100, 32)) as pilot:
        steps = app.query_one(StepList)

        # -- 1 Prerequisites: the doctor ran by itself; r runs it again ------------------------
        prereqs = app.step_screen("prerequisites")
        await wait_for(pilot, lambda: prereqs.results is not None, what="the doctor")
        assert {r.name for r in prereqs.results} >= {"postgresql", "redis", ".env"}
        await pilot.press("r")
        await wait_for(pilot, lambda: not prereqs.running, what="the doctor's re-run")
        assert steps.states["prerequisites"] is StepState.ATTENTION  # no .env, no database

        # -- 2 Environment: REDIS_URL typed, SECRET_KEY generated, saved after the changes ----
        await pilot.press("2")
        env = app.step_screen("environment")
        await wait_for(pilot, lambda: env.document is not None, what="the .env form")
        assert steps.states["environment"] is StepState.NOT_YET
        await pilot.press("tab", "tab")  # DATABASE_URL, then REDIS_URL
        assert app.focused.id == "env-REDIS_URL"
        await type_into(pilot, redis_server.url())
        await pilot.press("ctrl+g", "ctrl+s")
        await wait_for(pilot, lambda: isinstance(app.screen, ChangesModal), what="the changes")
        assert sorted(k for k, _, _ in app.screen.changes) == ["REDIS_URL", "SECRET_KEY"]
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: (project_dir / ".env").is_file(), what="the .env")
        values = EnvFile.load(project_dir / ".env").values()
        assert values["REDIS_URL"] == redis_server.url()
        assert len(bytes.fromhex(values["SECRET_KEY"])) == 32
        assert (project_dir / ".env").stat().st_mode & 0o777 == 0o600

        # -- 3 Database & role: admin URL and password typed; the plan shown, then run --------
        await pilot.press("escape", "3")
        database = app.step_screen("database")
        await pilot.press("tab")
        assert app.focused.id == "db-admin-url"
        await type_into(pilot, f"postgresql://postgres@127.0.0.1:{pg.port}/postgres")
        await pilot.press("tab")
        await type_into(pilot, pg.server.superuser_password)
        await pilot.press("tab")
        await type_into(pilot, role_name)  # select-on-focus: replaces "raptorflow"
        await pilot.press("tab")
        await type_into(pilot, role_name)
        await pilot.press("tab")
        await type_into(pilot, ROLE_PASSWORD)
        plan = app.query_one("#db-plan").sql
        assert f'CREATE DATABASE "{role_name}" OWNER "{role_name}"' in plan
        assert ROLE_PASSWORD not in plan
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: database.result is not None, what="provisioning")
        assert f"database {role_name} (owner {role_name})" in database.result.created
        # the role logs in with exactly that password, and the .env points at it
        psycopg2.connect(host="127.0.0.1", port=pg.port, user=role_name,
                         password=ROLE_PASSWORD, dbname=role_name).close()
        written = load_settings(None, ALEMBIC_INI, environ={}, cwd=project_dir)
        assert written.url().username == role_name and written.url().database == role_name
        # in the form the app reads: the guide's driver (no DATABASE_URL was there before)
        assert make_url(written.database_url).drivername == "postgresql+asyncpg"
        await wait_for(pilot, lambda: app.report is not None and app.report.database.reachable
                       and app.report.database.name == role_name, what="the panel on the new db")
        assert steps.states["database"] is StepState.DONE
        assert ROLE_PASSWORD not in app.query_one("#status-body").render().plain

        # -- 4 Migrations: u upgrades to head (backup first) ----------------------------------
        await pilot.press("escape", "escape")
        mig = await open_migrations(pilot, app)
        await pilot.press("u")
        await wait_for(pilot, lambda: app.report.at_head and not mig.running, what="head")
        assert "Next: 5 Seed (press 5)" in str(app.query_one("#mig-result").render())
        heads = tuple(migrations.heads(written))
        assert migrations.current_revisions(written) == heads
        backups = list_backups(written)
        assert len(backups) == 1, "an upgrade takes a backup first"
        assert steps.states["migrations"] is StepState.DONE

        # -- 5 Seed: the plan says what would be inserted; a applies --------------------------
        await pilot.press("5")
        seed_screen = app.step_screen("seed")
        await wait_for(pilot, lambda: seed_screen.report is not None, what="the seed plan")
        assert seed_screen.report.inserted == ["free", "pro", "enterprise"]
        await pilot.press("a")
        await wait_for(pilot, lambda: seed_screen.applied is not None, what="seeding")
        again = seed(written, dry_run=True)
        assert again.unchanged == ["free", "pro", "enterprise"] and not again.changed
        await wait_for(pilot, lambda: steps.states["seed"] is StepState.DONE, what="seed done")

        # -- 6 Verify: the 15 tables, and users described ------------------------------------
        await pilot.press("6")
        verify = app.step_screen("verify")
        await wait_for(pilot, lambda: len(verify.tables) >= 15, what="the tables")
        assert set(verify.expected) <= {t.name for t in verify.tables}
        users_row = [t.name for t in verify.tables].index("users")
        table = app.query_one("#verify-tables")
        table.move_cursor(row=users_row)
        await wait_for(pilot, lambda: verify.description is not None
                       and verify.description.name == "users", what="\\d users")
        assert verify.description.primary_key == ("id",)
        assert steps.states["verify"] is StepState.DONE

        # -- back to 4: d, the database name, Enter ------------------------------------------
        await pilot.press("4", "d")
        await wait_for(pilot, lambda: confirm_ready(app), what="the confirm")
        assert "DROP" in app.screen.sql
        await type_into(pilot, role_name)
        await pilot.press("enter")
        parent = next(r.down_revisions for r in migrations.history(written, current=heads)
                      if r.revision == heads[0])
        await wait_for(pilot, lambda: not mig.running and app.report.current == parent,
                       what="one step down")
        assert migrations.current_revisions(written) == parent
        assert len(list_backups(written)) == 2  # the rollback took one first
        assert not isinstance(app.screen, ErrorModal)
        assert steps.states["migrations"] is StepState.ATTENTION


async def test_database_step_keeps_the_apps_driver_and_reuses_the_password(
        pg, project_dir: Path, role_name: str) -> None:
    """Step 3 writes DATABASE_URL as `db create --write-env` does: the app's own driver and
    query (the guide's postgresql+asyncpg) are kept, and a second run without a password keeps
    the password the URL already holds for that role."""
    old = (f"postgresql+asyncpg://{role_name}:old-pw@127.0.0.1:{pg.port}/{role_name}"
           "?prepared_statement_cache_size=0")
    (project_dir / ".env").write_text(f"DATABASE_URL={old}\n")
    app = RfsetupApp(settings_for(project_dir, None), poll_interval=FAST_POLL)
    async with app.run_test(size=(100, 32)) as pilot:
        await pilot.press("3")
        database = app.step_screen("database")
        # the admin default is db create's: DATABASE_URL's server as postgres, no password
        admin = app.query_one("#db-admin-url", Input)
        assert admin.value == f"postgresql://postgres@127.0.0.1:{pg.port}/postgres"
        assert app.query_one("#db-name", Input).value == role_name
        await pilot.press("tab", "tab")
        assert app.focused.id == "db-admin-password"
        await type_into(pilot, pg.server.superuser_password)
        await pilot.press("tab", "tab")
        assert app.focused.id == "db-owner"
        await type_into(pilot, role_name)
        await pilot.press("tab")
        await type_into(pilot, ROLE_PASSWORD)
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: database.result is not None
                       or isinstance(app.screen, ErrorModal), what="provisioning")
        assert not isinstance(app.screen, ErrorModal), app.screen.error
        first = database.result
        written = EnvFile.load(project_dir / ".env").get("DATABASE_URL")
        url = make_url(written)
        assert url.drivername == "postgresql+asyncpg"
        assert dict(url.query) == {"prepared_statement_cache_size": "0"}
        assert (url.username, url.password, url.database) == (role_name, ROLE_PASSWORD,
                                                              role_name)

        # again with the role's password field empty: nothing to change, nothing dropped
        assert app.query_one("#db-password", Input).value == ""
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: database.result is not first
                       or isinstance(app.screen, ErrorModal), what="the second run")
        assert not isinstance(app.screen, ErrorModal), app.screen.error
        assert f"role {role_name}" in database.result.existing
        assert EnvFile.load(project_dir / ".env").get("DATABASE_URL") == written
        psycopg2.connect(host="127.0.0.1", port=pg.port, user=role_name,
                         password=ROLE_PASSWORD, dbname=role_name).close()

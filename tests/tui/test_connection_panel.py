"""The seven connection failures in the live panel and the Database step, provoked for real.

The panel names each for what it is (a server that answered and refused is never
"unreachable"), shows the server's own words and the remedy wrapped at word boundaries, never a
``localhost:5432`` target for a URL that could not be parsed, and never the password.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

import pytest
from textual.geometry import Region
from textual.widgets import Input

from rfsetup.core.connect import server_words
from rfsetup.tui.app import RfsetupApp
from rfsetup.tui.modals.error import ErrorModal, error_text
from rfsetup.tui.widgets.status_panel import StatusPanel
from tests.cli.test_connection_walks import PASSWORD, walk_role  # noqa: F401  (the fixture)
from tests.conftest import PgTestServer
from tests.tui.conftest import FAST_POLL, settings_for, type_into, wait_for

WALKS = {
    # name -> (url template, verdict shown, remedy words)
    "refused port": ("postgresql://rf_walk:{good}@127.0.0.1:{closed}/postgres",
                     "✗ server not listening (connection refused)", "port"),
    "wrong password": ("postgresql://rf_walk:wrong@127.0.0.1:{port}/postgres",
                       "✗ server answered: login refused", "check the password"),
    "missing role": ("postgresql://rf_nobody:{good}@127.0.0.1:{port}/postgres",
                     "✗ server answered: login refused", "db create --owner rf_nobody"),
    "missing database": ("postgresql://rf_walk:{good}@127.0.0.1:{port}/rf_no_db",
                         "✗ server answered: no such database", "db create --name rf_no_db"),
    "unresolvable host": ("postgresql://rf_walk:{good}@no-such-host.invalid:5432/postgres",
                          "✗ server host name not found (DNS)", "check the host name"),
    "malformed URL": ("postgresql//rf_walk@127.0.0.1/postgres",
                      "✗ server not contacted (fix the URL first)", "expected postgresql://"),
    "@ in the password": ("postgresql://rf_walk:{raw}@127.0.0.1:{port}/postgres",
                          "✗ server not contacted (fix the URL first)", "@ as %40"),
}


def _panel_lines(panel: StatusPanel) -> list[str]:
    body = panel.body
    width, height = body.size.width, body.virtual_size.height or body.size.height
    return [strip.text.rstrip() for strip in body.render_lines(Region(0, 0, width, height))]


@pytest.mark.usefixtures("walk_role")
@pytest.mark.parametrize("walk", list(WALKS))
async def test_the_panel_names_each_failure(walk: str, pg: PgTestServer,
                                            project_dir: Path) -> None:
    from rfsetup.core.embedded import free_port

    template, verdict, remedy = WALKS[walk]
    url = template.format(good=quote(PASSWORD, safe=""), raw=PASSWORD, port=pg.port,
                          closed=free_port())
    app = RfsetupApp(settings_for(project_dir, url), poll_interval=FAST_POLL)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: app.report is not None, what="the first status")
        await pilot.pause()
        panel = app.query_one(StatusPanel)
        error = app.report.database.error
        assert error is not None
        shown = str(panel.body.render())
        assert verdict in shown, shown
        assert remedy in shown, shown
        assert "unreachable" not in shown
        for secret in (PASSWORD, quote(PASSWORD, safe="")):
            assert secret not in shown
        lines = _panel_lines(panel)
        target = lines[1]
        if error.exit_code == 2:  # nothing parsed: the URL as given (masked), no invented target
            assert "localhost:5432" not in shown and "rf_walk" in target
        # the server's own words are there, each word whole on its line
        words = server_words(error.cause)
        answered = verdict.startswith("✗ server answered")
        assert ("server said: " in shown) == answered  # the server's own words, when it spoke
        if words and answered:
            assert words.split()[0] in shown
            tokens = {tok for line in lines for tok in line.split()}
            cut = [w for w in words.split() if len(w) < panel.body.size.width and w not in tokens]
            assert not cut, (cut, lines)
        assert all(len(line) <= panel.body.size.width for line in lines)


async def test_a_wrong_admin_password_in_the_database_step(pg: PgTestServer,
                                                            project_dir: Path) -> None:
    app = RfsetupApp(settings_for(project_dir, pg.url("postgres")), autoload=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("3")
        await pilot.pause()
        admin = app.query_one("#db-admin-url", Input)
        admin.value = f"postgresql://postgres@127.0.0.1:{pg.port}/postgres"
        app.query_one("#db-admin-password", Input).focus()
        await type_into(pilot, "not-the-admin-pw")
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: isinstance(app.screen, ErrorModal), what="the error")
        error = app.screen.error
        text = str(error_text(error))
        assert error.kind == "password_rejected" and error.exit_code == 3
        assert text.startswith("admin connection: password rejected for postgres")
        assert "the admin password field" in text and "PGPASSWORD" in text
        assert "~/.pgpass" in text
        assert "DATABASE_URL" not in text and "--owner postgres" not in text
        assert "not-the-admin-pw" not in text


async def test_the_first_status_is_read_before_the_app_loads_and_redis_follows(
        fresh_db: str, redis_server, project_dir: Path) -> None:
    """The CLI starts the first (warm) status read before importing the app (tui/early.py):
    the revision is in the panel from the first frames, and Redis is asked right after."""
    from rfsetup.core import alembic as migrations
    from rfsetup.core.status import collect_status
    from rfsetup.tui.early import EarlyStatus

    settings = settings_for(project_dir, fresh_db, redis_server.url())
    migrations.upgrade(settings, backup=False)
    collect_status(settings)  # the cache warm, as after any earlier run
    early = EarlyStatus(settings)
    first = early.result(timeout=30)
    assert first is not None and not first.redis_checked
    assert first.current == ("0004_production_indexes",)
    app = RfsetupApp(settings, early=early)
    async with app.run_test(size=(120, 40)) as pilot:
        panel = app.query_one(StatusPanel)
        await wait_for(pilot, lambda: "✓ Redis" in str(panel.body.render()), what="Redis")
        shown = str(panel.body.render())
        assert "● 0004_production_indexes" in shown and "checking" not in shown
        assert app.report is not None and app.report.redis_checked

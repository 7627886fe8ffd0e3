"""The production guard in the terminal app, on the real server: the frame and panel say
PRODUCTION, the panel polls gently, an upgrade asks for the typed name (Escape changes
nothing), a stamp is refused with the CLI's --force named; a plain target is unguarded."""

from __future__ import annotations

from pathlib import Path

from rfsetup.core import alembic as migrations
from rfsetup.core.backups import list_backups
from rfsetup.core.guard import PRODUCTION_POLL_INTERVAL
from rfsetup.core.settings import Settings, load_settings
from rfsetup.tui.app import POLL_INTERVAL, RfsetupApp
from rfsetup.tui.modals.confirm import ConfirmModal
from rfsetup.tui.widgets.status_panel import StatusPanel
from tests.conftest import ALEMBIC_INI
from tests.tui.conftest import confirm_ready, open_migrations, wait_for


def _settings(project: Path, name: str, url: str) -> Settings:
    env = project / name
    env.write_text(f"DATABASE_URL={url}\n")
    return load_settings(env, ALEMBIC_INI, environ={}, cwd=project)


def _panel_text(app: RfsetupApp) -> str:
    return app.query_one(StatusPanel)._shown.plain


async def test_production_is_marked_and_upgrades_need_the_name(fresh_db: str,
                                                              project_dir: Path) -> None:
    settings = _settings(project_dir, ".env.production", fresh_db)
    assert settings.production == "the env file is .env.production"
    database = settings.url().database
    app = RfsetupApp(settings)
    async with app.run_test(size=(80, 24)) as pilot:
        assert app.screen.has_class("-production")
        panel = app.query_one(StatusPanel)
        assert panel.has_class("-production") and "PRODUCTION" in str(panel.border_title)
        assert app.poll_interval == PRODUCTION_POLL_INTERVAL == 15
        await wait_for(pilot, lambda: app.report is not None, what="the status")
        text = _panel_text(app)
        assert text.startswith(" PRODUCTION \nthe env file is .env.production")
        assert "4 pending" in text  # the facts still follow

        mig = await open_migrations(pilot, app)
        await pilot.press("u")
        await wait_for(pilot, lambda: confirm_ready(app), what="the modal")
        assert app.screen.title_text.startswith("PRODUCTION — ")
        await pilot.press("escape")
        await pilot.pause(0.2)
        assert not mig.running and migrations.current_revisions(settings) == ()

        # a stamp is refused outright here (the CLI's --force is named)
        await pilot.press("s")
        await pilot.pause(0.2)
        assert not isinstance(app.screen, ConfirmModal)
        assert any("--force" in str(n.message) for n in app._notifications)
        assert migrations.current_revisions(settings) == ()

        await pilot.press("u")
        await wait_for(pilot, lambda: confirm_ready(app), what="the modal")
        await pilot.press(*database, "enter")
        await wait_for(pilot, lambda: not mig.running and app.report is not None
                       and app.report.pending == 0, timeout=60, what="the upgrade")
    assert migrations.current_revisions(settings) == tuple(migrations.heads(settings))
    assert len(list_backups(settings)) == 1  # the backup was taken first


async def test_a_plain_target_is_not_marked(fresh_db: str, project_dir: Path) -> None:
    settings = _settings(project_dir, ".env", fresh_db)
    assert settings.production is None
    app = RfsetupApp(settings)
    async with app.run_test(size=(80, 24)) as pilot:
        assert not app.screen.has_class("-production")
        assert app.poll_interval == POLL_INTERVAL
        await wait_for(pilot, lambda: app.report is not None, what="the status")
        assert "PRODUCTION" not in _panel_text(app)
        assert app.query_one(StatusPanel).border_title == "Live"

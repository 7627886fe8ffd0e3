"""Issue 12 in the terminal app, on the real servers: the Seed step's dev fixtures key (added
once, refused on production) and F9's support bundle (written, no secret in it)."""

from __future__ import annotations

import dataclasses
import tarfile
from pathlib import Path

from rfsetup.core import alembic as migrations
from rfsetup.tui.app import RfsetupApp
from tests.helpers.db import query
from tests.tui.conftest import FAST_POLL, settings_for, wait_for


def _line(app: RfsetupApp, selector: str) -> str:
    return str(app.query_one(selector).render())


async def test_the_seed_step_adds_the_dev_fixtures_once(fresh_db: str, project_dir: Path
                                                       ) -> None:
    settings = settings_for(project_dir, fresh_db)
    migrations.upgrade(settings, backup=False)
    app = RfsetupApp(settings, poll_interval=FAST_POLL)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("5")
        await wait_for(pilot, lambda: app.step_screen("seed").report is not None,
                       what="the seed plan")
        await pilot.press("f")
        await wait_for(pilot, lambda: "Dev fixtures" in _line(app, "#seed-dev"),
                       what="the fixtures")
        assert "Dev fixtures added: 14 rows in 10 tables" in _line(app, "#seed-dev")
        assert query(fresh_db, "SELECT count(*) FROM indicators")[0][0] == 5
        await pilot.press("f")
        await wait_for(pilot, lambda: "all 14 rows already there" in _line(app, "#seed-dev"),
                       what="the second run")
        assert "rfsetup seed --dev --remove" in _line(app, "#seed-dev")
    assert query(fresh_db, "SELECT count(*) FROM indicators")[0][0] == 5


async def test_the_seed_step_refuses_dev_fixtures_on_production(fresh_db: str,
                                                               project_dir: Path) -> None:
    settings = settings_for(project_dir, fresh_db)
    migrations.upgrade(settings, backup=False)
    production = dataclasses.replace(settings, production="RFSETUP_ENV=production")
    app = RfsetupApp(production, poll_interval=FAST_POLL)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("5")
        await pilot.press("f")
        await pilot.pause(0.3)
        assert "never written to a production target" in _line(app, "#seed-dev")
    assert query(fresh_db, "SELECT count(*) FROM organizations")[0][0] == 0


async def test_f9_writes_a_support_bundle(fresh_db: str, redis_server, project_dir: Path
                                         ) -> None:
    settings = settings_for(project_dir, fresh_db, redis_server.url())
    password = settings.url().password
    app = RfsetupApp(settings, poll_interval=FAST_POLL)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: app.report is not None, what="the status")
        await pilot.press("f9")
        await wait_for(pilot, lambda: list(project_dir.glob("rfsetup-support-*.tar.gz")),
                       timeout=60, what="the bundle")
        await wait_for(pilot, lambda: any("written to" in str(n.message)
                                          for n in app._notifications), what="the notice")
    (bundle,) = project_dir.glob("rfsetup-support-*.tar.gz")
    with tarfile.open(bundle) as archive:
        names = archive.getnames()
        data = b"".join(archive.extractfile(m).read() for m in archive.getmembers()
                        if m.isfile())
    assert "support-bundle/status.json" in names and "support-bundle/server.json" in names
    assert password and password.encode() not in data


def test_the_palette_offers_the_bundle(project_dir: Path) -> None:
    app = RfsetupApp(settings_for(project_dir, None), autoload=False)
    titles = [title for title, _help, _call in app.palette_commands()]
    assert "Write a support bundle (no secrets in it)" in titles
    assert any(t.startswith("Seed: Add sample dev data") for t in titles)


async def test_f8_shows_every_environment(pg, project_dir: Path) -> None:
    from rfsetup.core.settings import load_settings
    from rfsetup.tui.modals.targets import TargetsModal
    from tests.conftest import ALEMBIC_INI

    dev, prod = pg.create_database(), pg.create_database()
    try:
        (project_dir / ".env").write_text(f"DATABASE_URL={pg.url(dev)}\n")
        (project_dir / ".env.production").write_text(f"DATABASE_URL={pg.url(prod)}\n")
        settings = load_settings(project_dir / ".env", ALEMBIC_INI, environ={},
                                 cwd=project_dir)
        migrations.upgrade(settings, backup=False)
        app = RfsetupApp(settings, poll_interval=FAST_POLL)
        async with app.run_test(size=(100, 30)) as pilot:
            await pilot.press("f8")
            assert isinstance(app.screen, TargetsModal)
            modal = app.screen
            await wait_for(pilot, lambda: modal.text is not None, timeout=90,
                           what="status --all")
            lines = modal.text.splitlines()
            assert lines[0].split()[:3] == ["ENV", "FILE", "DATABASE"]
            assert "up to date" in next(ln for ln in lines if ln.startswith(".env "))
            prod_line = next(ln for ln in lines if ln.startswith(".env.production"))
            assert "4 pending" in prod_line and prod_line.endswith("PRODUCTION")
            assert pg.server.superuser_password not in modal.text
            await pilot.press("escape")
            assert not isinstance(app.screen, TargetsModal)
    finally:
        pg.drop_database(dev)
        pg.drop_database(prod)

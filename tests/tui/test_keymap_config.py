"""Keys and theme from the user's config file (issue 10, item 6), RFSETUP_KEYMAP over it.

`migrate-down-one=u` silently took `u` from Upgrade, an unknown binding id was ignored without
a word, the pane kept saying "d runs it" after `d` was remapped, and the theme chosen in the
palette was lost at every start. Real app, real database: a remapped key opens the real
confirmation; what is refused is said at start; the theme lands in the file.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from textual.widgets import Static

from rfsetup.core import alembic as migrations
from rfsetup.core.settings import parse_keymap
from rfsetup.tui.app import RfsetupApp
from rfsetup.tui.modals.confirm import ConfirmModal
from rfsetup.tui.screens.migrations import DOWN_ONE
from tests.tui.conftest import confirm_ready, open_migrations, settings_for, wait_for


def _config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config" / "rfsetup" / "config.toml"
    path.parent.mkdir(parents=True)
    path.write_text(text)
    return path


def _notes(app: RfsetupApp) -> str:
    return "\n".join(n.message for n in app._notifications)


def _move_line(app: RfsetupApp) -> str:
    return str(app.query_one("#mig-move", Static).render())


async def test_config_file_keys_and_theme_apply_and_hints_follow(
        fresh_db: str, project_dir: Path, tmp_path: Path) -> None:
    config = _config(tmp_path, '# mine\ntheme = "gruvbox"\n\n[keys]\n'
                               'migrate-down-one = "ctrl+d"\n')
    settings = replace(settings_for(project_dir, fresh_db), config_file=config)
    migrations.upgrade(settings, backup=False)
    app = RfsetupApp(settings)
    async with app.run_test(size=(100, 30)) as pilot:
        assert app.theme == "gruvbox"
        mig = await open_migrations(pilot, app)
        mig.choose(DOWN_ONE)
        await pilot.pause()
        assert "(Ctrl+D runs it" in _move_line(app), _move_line(app)
        await pilot.press("ctrl+d")
        await wait_for(pilot, lambda: confirm_ready(app),
                       what="the confirmation of one step down")
        assert "DROP" in app.screen.sql
        await pilot.press("escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, ConfirmModal), what="closed")
        assert "not applied" not in _notes(app)  # nothing was refused
    assert config.read_text().startswith("# mine\ntheme = \"gruvbox\"")  # nothing rewritten


async def test_a_clash_and_an_unknown_id_are_refused_and_said(
        fresh_db: str, project_dir: Path, tmp_path: Path) -> None:
    config = _config(tmp_path, '[keys]\nmigrate-donw-one = "ctrl+d"\nseed-apply = "A"\n')
    settings = replace(settings_for(project_dir, fresh_db), config_file=config,
                       keymap=parse_keymap("migrate-down-one=u"))
    migrations.upgrade(settings, backup=False)
    app = RfsetupApp(settings)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: _notes(app), what="the notice")
        notes = _notes(app)
        assert "RFSETUP_KEYMAP: migrate-down-one=u not applied: u is already" in notes
        assert "migrate-upgrade-head" in notes and "in Migrations" in notes
        assert f"{config}: unknown binding id 'migrate-donw-one'" in notes
        assert app.keymap.applied == {"seed-apply": "A"}  # the rest of the file applies
        mig = await open_migrations(pilot, app)
        mig.choose(DOWN_ONE)
        await pilot.pause()
        assert "(d runs it" in _move_line(app)
        await pilot.press("d")  # down-one kept its key...
        await wait_for(pilot, lambda: confirm_ready(app),
                       what="the confirmation")
        await pilot.press("escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, ConfirmModal), what="closed")
        # ...and u is still Upgrade's: the footer says so
        assert app.keymap.keys["migrate-upgrade-head"] == "u"
        assert not mig.running


async def test_the_chosen_theme_is_saved_and_comes_back(project_dir: Path,
                                                        tmp_path: Path) -> None:
    config = _config(tmp_path, '# my keys\n[keys]\nquit = "ctrl+x"\n')
    settings = replace(settings_for(project_dir, None), config_file=config)
    app = RfsetupApp(settings, autoload=False)
    async with app.run_test(size=(80, 24)) as pilot:
        app.theme = "nord"
        await wait_for(pilot, lambda: 'theme = "nord"' in config.read_text(),
                       what="the theme in the config file")
    # the keys table stays below the new top-level line, byte for byte
    assert config.read_text() == '# my keys\ntheme = "nord"\n[keys]\nquit = "ctrl+x"\n'
    again = RfsetupApp(settings, autoload=False)
    async with again.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert again.theme == "nord"
        await pilot.press("ctrl+x")  # the file's key quits
    assert again.return_code == 0


async def test_a_broken_config_file_is_said_and_nothing_of_it_applied(
        project_dir: Path, tmp_path: Path) -> None:
    config = _config(tmp_path, 'theme = "nord\n[keys\n')
    before = config.read_bytes()
    settings = replace(settings_for(project_dir, None), config_file=config)
    app = RfsetupApp(settings, autoload=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: _notes(app), what="the notice")
        assert f"{config} is not valid TOML" in _notes(app)
        assert app.theme != "nord"
        app.theme = "dracula"  # saving into a file that is not TOML is refused, said
        await wait_for(pilot, lambda: "the theme was not saved" in _notes(app),
                       what="the refusal")
    assert config.read_bytes() == before

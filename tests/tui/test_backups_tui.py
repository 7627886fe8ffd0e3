"""Backups in the TUI, on the real servers: the list (age, revision, size, checked against its
sidecar), a restore the core refuses (with its words), a restore after the typed name, and
pruning — and the footer and the history at 80x24."""

from __future__ import annotations

import time
from itertools import pairwise
from pathlib import Path

from rfsetup.core import alembic as migrations
from rfsetup.core.backups import create_backup, list_backups
from rfsetup.tui.app import RfsetupApp
from rfsetup.tui.modals.backups import BackupsModal
from rfsetup.tui.modals.confirm import ConfirmModal
from rfsetup.tui.modals.prune import PruneModal
from tests.helpers.db import query, version
from tests.tui.conftest import (
    FAST_POLL,
    confirm_ready,
    open_migrations,
    settings_for,
    type_into,
    wait_for,
)

HEAD = ("0004_production_indexes",)


def status(modal: BackupsModal) -> str:
    return str(modal.query_one("#backups-status").render())


async def test_list_refuse_restore_and_prune(fresh_db: str, redis_server, project_dir: Path
                                            ) -> None:
    settings = settings_for(project_dir, fresh_db, redis_server.url())
    migrations.upgrade(settings, backup=False)
    query(fresh_db, "INSERT INTO users (auth_sub) VALUES ('a'), ('b'), ('c'), ('d'), ('e')")
    at_head = create_backup(settings)  # five users, at head
    migrations.downgrade(settings, "0003_intel", backup=False)
    time.sleep(1.1)  # backups are named by the second
    at_intel = create_backup(settings)
    migrations.upgrade(settings, backup=False)
    query(fresh_db, "DELETE FROM users; CREATE TABLE audit_log (id int)")  # the incident
    database = settings.url().database

    app = RfsetupApp(settings, poll_interval=FAST_POLL)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_migrations(pilot, app)
        await pilot.press("B")
        modal = app.screen
        assert isinstance(modal, BackupsModal)
        table = modal.query_one("#backups-table")
        await wait_for(pilot, lambda: len(modal.checks) == 2, what="the checks")
        assert [str(b.path) for b in modal.backups] == [str(at_intel.path), str(at_head.path)]
        assert modal.checks == {str(at_intel.path): True, str(at_head.path): True}
        first = [str(c) for c in table.get_row_at(0)]
        assert first[1] == "0003_intel" and first[3] == "✓ verified" and "kB" in first[2]

        # a table that no backup holds would be dropped: the core refuses, and says so here
        await pilot.press("enter")
        await wait_for(pilot, lambda: "✗" in status(modal), what="the refusal")
        assert "would drop 1 object(s) the dump does not contain" in status(modal)
        assert "audit_log" in status(modal) and "nothing was changed" in status(modal)
        assert "--drop-extra" in status(modal) and not isinstance(app.screen, ConfirmModal)
        query(fresh_db, "DROP TABLE audit_log")  # it may go, then

        # the head backup: what is replaced, the name, then the restore runs here
        await pilot.press("down", "enter")
        await wait_for(pilot, lambda: confirm_ready(app), what="the plan")
        body = str(app.screen.query_one("#confirm-body Static").render())
        assert f"this will replace everything in database {database}" in body
        assert "revision 0004_production_indexes" in body and "verified" in body
        await type_into(pilot, database)
        await pilot.press("enter")
        await wait_for(pilot, lambda: "✓ restored" in status(modal), timeout=60,
                       what="the restore", shown=lambda: status(modal))
        assert "is at 0004_production_indexes" in status(modal)
        assert query(fresh_db, "SELECT count(*) FROM users") == [(5,)]
        await wait_for(pilot, lambda: len(modal.backups) == 3, what="the safety backup")

        # prune: keep the newest one
        await pilot.press("p")
        prune = app.screen
        assert isinstance(prune, PruneModal)
        await pilot.click("#prune-keep")
        await pilot.press("ctrl+a", "ctrl+k", "1")
        await wait_for(pilot, lambda: len(prune.doomed) == 2, what="the dry run")
        await pilot.press("shift+tab", "shift+tab")  # back to the name (a list lies between)
        assert prune.focused is prune.query_one("#prune-name")
        await type_into(pilot, database)
        await pilot.press("enter")
        await wait_for(pilot, lambda: "✓ removed 2 backup(s)" in status(modal), what="prune")
        await wait_for(pilot, lambda: len(modal.backups) == 1, what="the list again")
        await pilot.press("escape")
        assert not isinstance(app.screen, BackupsModal)
    assert version(fresh_db) == HEAD
    assert len(list_backups(settings)) == 1


async def test_the_footer_fits_and_every_key_stays_in_the_palette(project_dir: Path) -> None:
    from rfsetup.tui.screens.migrations import MigrationsScreen
    from rfsetup.tui.widgets.keys_footer import KeysFooter

    settings = settings_for(project_dir, None)
    for width, hidden in ((80, True), (160, False)):
        app = RfsetupApp(settings, autoload=False)
        async with app.run_test(size=(width, 24)) as pilot:
            await pilot.press("4")
            await pilot.pause(0.2)
            keys = app.query_one(KeysFooter).items()
            shown = {k.description for k in keys}
            # one cell of margin after each key, none overlapping, all inside the terminal
            assert all(a.x + a.width < b.x for a, b in pairwise(keys))
            assert keys[-1].palette and keys[-1].x + keys[-1].width < width
            assert "Quit" in shown and "Down 1" in shown and "Upgrade" in shown
            assert ("Stamp" not in shown) == hidden
            palette = " ".join(title for title, _help, _run in app.palette_commands())
            for binding in MigrationsScreen.BINDINGS:
                assert binding.tooltip in palette  # dropped here, still in the palette
            assert "Focus the live panel" in palette


async def test_a_footer_key_can_be_clicked_and_hovered(project_dir: Path) -> None:
    """The footer is one widget: a click on a key runs it, hovering shows its tooltip, and
    a step switch repaints it with the new step's keys."""
    from rfsetup.tui.modals.help import HelpModal
    from rfsetup.tui.widgets.keys_footer import KeysFooter

    app = RfsetupApp(settings_for(project_dir, None), autoload=False)
    async with app.run_test(size=(120, 24)) as pilot:
        await pilot.pause(0.2)
        footer = app.query_one(KeysFooter)
        assert "Re-run" in {k.description for k in footer.items()}
        await pilot.press("4")
        await pilot.pause(0.2)
        keys = {k.description: k for k in footer.items()}
        assert "Upgrade" in keys and "Re-run" not in keys
        line = footer.render_line(0).text
        upgrade = keys["Upgrade"]
        assert line[upgrade.x:upgrade.x + upgrade.width] == f"{upgrade.key_display} Upgrade"
        await pilot.hover(KeysFooter, offset=(upgrade.x + 1, 0))
        assert footer.tooltip == upgrade.tooltip
        assert upgrade.tooltip
        await pilot.hover(KeysFooter, offset=(upgrade.x + upgrade.width, 0))  # the margin
        assert footer.tooltip is None
        help_key = keys["Help"]
        await pilot.click(KeysFooter, offset=(help_key.x, 0))
        await wait_for(pilot, lambda: isinstance(app.screen, HelpModal), what="the help")


async def test_the_history_keeps_a_readable_message_column(fresh_db: str, project_dir: Path
                                                           ) -> None:
    settings = settings_for(project_dir, fresh_db)
    migrations.upgrade(settings, backup=False)
    app = RfsetupApp(settings, poll_interval=FAST_POLL)
    async with app.run_test(size=(80, 24)) as pilot:
        mig = await open_migrations(pilot, app)
        await pilot.pause(0.3)
        table = mig.history
        message = table.ordered_columns[table.get_column_index("message")]
        assert message.get_render_width(table) >= 14
        row = [str(c) for c in table.get_row(HEAD[0])]
        assert row[0] == "●◆"  # symbols only at 80 columns, the legend in the border
        assert row[1] == "0004_production…" and row[2].startswith("production indexes")
        assert "● current ◆ head" in str(table.border_subtitle)
        total = sum(c.get_render_width(table) for c in table.ordered_columns)
        assert total <= table.size.width  # no sideways scrolling to read a message

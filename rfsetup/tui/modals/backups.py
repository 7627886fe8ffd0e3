"""BackupsModal: the backups in the TUI — list, check, restore after the typed name, prune.

Opened from Migrations (``B``, binding id ``migrate-backups``) or the palette. The list is the
core's (``backups.list_backups``: newest first, partial files never), each with its age, the
revision it holds, its size and whether its SHA-256 still matches its sidecar (checked in the
background, one file after another). Enter on one plans the restore (``restore.plan_restore``,
refused as the core refuses, with its message), shows what will be replaced and asks for the
database name; the restore then runs here, its progress in place, ``x`` cancels it (rolled
back). ``p`` prunes (``backups.prune_backups``) after its own confirmation.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import DataTable, Label, Static
from textual.worker import Worker, get_current_worker

from rfsetup.core.errors import RfsetupError
from rfsetup.core.errors import unexpected as unexpected_error
from rfsetup.tui.messages import (
    BackupChecked,
    BackupRestored,
    BackupsListed,
    BackupsPruned,
    RestorePlanned,
    RestoreProgressed,
)
from rfsetup.tui.modals.confirm import ConfirmModal
from rfsetup.tui.screens.base import display_path
from rfsetup.tui.screens.migration_run import shorten_middle

if TYPE_CHECKING:
    from rfsetup.core.backupfiles import BackupInfo
    from rfsetup.core.restoreplan import RestorePlan
    from rfsetup.core.settings import Settings

CHECKING = Text("…", style="dim")
CHECKS = {True: Text("✓ verified", style="green"), None: Text("? unverified", style="yellow"),
          False: Text("✗ changed", style="bold red")}


def human_size(size: int | None) -> str:
    """``812 B``, ``4.2 MB``."""
    if size is None:
        return "?"
    value = float(size)
    for unit in ("B", "kB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{value:.1f} TB"  # pragma: no cover - the loop returns


def age_text(created: datetime, now: datetime) -> str:
    """``45 s``, ``12 min``, ``5 h``, ``3 d`` ago."""
    seconds = max((now - created).total_seconds(), 0)
    for limit, unit, size in ((60, "s", 1), (3600, "min", 60), (86400, "h", 3600)):
        if seconds < limit:
            return f"{seconds // size:.0f} {unit}"
    return f"{seconds // 86400:.0f} d"


class BackupsModal(ModalScreen[None]):
    """The backups folder of ``settings``; ``busy()`` names what forbids a restore now."""

    BINDINGS = [
        Binding("escape", "close", "Close", id="backups-close"),
        Binding("p", "prune", "Prune", id="backups-prune"),
        Binding("r", "reload", "Reload", id="backups-reload"),
        Binding("x", "cancel_restore", "Cancel the restore", id="backups-cancel"),
    ]

    def __init__(self, settings: Settings, database: str, *,
                 busy: Callable[[], str | None] = lambda: None,
                 secrets: Callable[[], list[str]] = list, now: datetime | None = None,
                 load: bool = True,
                 on_restored: Callable[[BackupRestored], object] | None = None) -> None:
        super().__init__()
        self.on_restored = on_restored
        self.settings = settings
        self.database = database
        self.busy = busy
        self.secrets = secrets
        self.now = now
        self.load = load
        self.backups: list[BackupInfo] = []
        self.checks: dict[str, bool | None] = {}
        self.restoring: RestorePlan | None = None
        self.cancel_requested = False
        self._restore_worker: Worker[None] | None = None
        self._version_table: Any = None
        self._lines: list[str] = []
        self._tick: str | None = None
        self._outcome: Text | None = None
        self._info: Text | None = None

    def compose(self) -> ComposeResult:
        with Vertical(id="backups-dialog", classes="dialog"):
            yield Label(f"Backups of database {self.database}", classes="dialog-title")
            yield Static(self._where(), id="backups-where")
            yield DataTable(id="backups-table", cursor_type="row")
            yield Static("", id="backups-status")
            yield Static(Text("Enter restore (after the typed name) · p prune · r reload · "
                              "Esc close", style="dim"), id="backups-keys")

    def _where(self) -> str:
        keep = self.settings.backup_keep
        kept = f"each database keeps its newest {keep}" if keep else "all are kept"
        return f"in {display_path(self.settings.backups_dir)}, newest first ({kept})"

    def on_mount(self) -> None:
        self.query_one(DataTable).focus()
        if self.load:
            self.action_reload()

    # -- the list ----------------------------------------------------------------------------
    def action_reload(self) -> None:
        self._say("reading the backups…", style="dim", info=True)
        self.list_backups()

    @work(thread=True, exclusive=True, exit_on_error=False, group="backups-list")
    def list_backups(self) -> None:
        from rfsetup.core.backupfiles import verify_dump
        from rfsetup.core.backups import list_backups

        worker = get_current_worker()
        try:
            infos = list_backups(self.settings)
        except RfsetupError as exc:
            self.post_message(BackupsListed([], exc))
            return
        except OSError as exc:
            self.post_message(BackupsListed([], RfsetupError(
                f"cannot read {self.settings.backups_dir}: {exc.strerror}")))
            return
        self.post_message(BackupsListed(infos))
        for info in infos:  # each file read whole for its SHA-256: one after another
            if worker.is_cancelled:
                return
            try:
                verification = verify_dump(Path(info.path))
                found: bool | None = True if verification.verified else None
                detail = verification.detail
            except RfsetupError as exc:
                found, detail = False, exc.message
            self.post_message(BackupChecked(Path(info.path), found, detail))

    def on_backups_listed(self, message: BackupsListed) -> None:
        self.backups = list(message.backups)
        self.checks = {}
        self._fill()
        if message.error is not None:
            self._say(f"✗ {message.error.message}", style="bold red")
        elif not self.backups:
            self._say(f"no backups yet in {display_path(self.settings.backups_dir)} "
                      "(every upgrade and rollback takes one first)", style="dim", info=True)
        elif self.restoring is None:
            self._say(f"{len(self.backups)} backup(s); checking each against its sidecar…",
                      style="dim", info=True)

    def _fill(self) -> None:
        table = self.query_one(DataTable)
        keep = table.coordinate_to_cell_key((table.cursor_row, 0))[0].value \
            if table.row_count else None
        table.clear(columns=True)
        several = len({b.database for b in self.backups}) > 1
        # the table's own width once laid out; before that, the dialog's (90%, at most 110)
        width = table.size.width or min(self.app.size.width * 9 // 10, 110) - 4
        cap = 16 if width < 90 else 28
        widths = {"age": 6, "database": min(16, max((len(b.database) for b in self.backups),
                                                    default=8)) if several else 0,
                  "revision": min(cap, max((len(b.revision or "base") for b in self.backups),
                                           default=4)), "size": 8, "check": 12}
        columns = [c for c in ("age", "database", "revision", "size", "check") if widths[c]]
        # explicit widths (a cell of padding each side, the scrollbar, one spare): the file
        # name gets the rest, shortened in the middle
        file_width = max(16, width - sum(widths[c] + 2 for c in columns) - 4)
        for column in columns:
            table.add_column(column, key=column, width=widths[column])
        table.add_column("file", key="file", width=file_width)
        now = self.now or datetime.now(UTC)
        for info in self.backups:
            path = str(info.path)
            revision = info.revision or "base"
            cells: dict[str, Any] = {
                "age": age_text(info.created_at, now), "database": info.database,
                "revision": revision if len(revision) <= cap else revision[:cap - 1] + "…",
                "size": human_size(info.size),
                "check": CHECKS.get(self.checks[path]) if path in self.checks else CHECKING}
            table.add_row(*(cells[c] for c in columns),
                          shorten_middle(Path(path).name, file_width), key=path)
        if keep is not None and keep in table.rows:
            table.move_cursor(row=table.get_row_index(keep), animate=False)

    def on_backup_checked(self, message: BackupChecked) -> None:
        path = str(message.path)
        self.checks[path] = message.verified
        table = self.query_one(DataTable)
        if path in table.rows:
            table.update_cell(path, "check", CHECKS[message.verified])
        if len(self.checks) == len(self.backups) and self.restoring is None:
            changed = sum(1 for v in self.checks.values() if v is False)
            unverified = sum(1 for v in self.checks.values() if v is None)
            text = f"{len(self.backups)} backup(s) checked"
            text += f"; {changed} changed since written (cannot be restored)" if changed else ""
            text += f"; {unverified} without a sidecar (unverified)" if unverified else ""
            self._say(text, style="bold red" if changed else "dim", info=True)

    def selected(self) -> BackupInfo | None:
        table = self.query_one(DataTable)
        if not table.row_count:
            return None
        path = str(table.coordinate_to_cell_key((table.cursor_row, 0))[0].value)
        return next((b for b in self.backups if str(b.path) == path), None)

    # -- restore -----------------------------------------------------------------------------
    @on(DataTable.RowSelected, "#backups-table")
    def _row_selected(self) -> None:
        self.action_restore()

    def _refused(self) -> str | None:
        if self.restoring is not None:
            return f"a restore is running (x cancels it): {self.restoring.path.name}"
        return self.busy()

    def action_restore(self) -> None:
        info = self.selected()
        refused = self._refused()
        if refused:
            self._say(f"! {refused}", style="bold yellow")
            return
        if info is None:
            return
        self._say(f"reading what restoring {Path(info.path).name} would replace…",
                  style="italic")
        self.plan_restore(Path(info.path))

    @work(thread=True, exclusive=True, exit_on_error=False, group="backups-plan")
    def plan_restore(self, path: Path) -> None:
        from rfsetup.core import alembic as migrations
        from rfsetup.core import restore

        try:
            vt = migrations.version_table(self.settings)
            plan = restore.plan_restore(self.settings, path, version_table=vt)
            # what the core refuses without --drop-extra / --into-other-database, refused
            plan.refuse_unless(into_other_database=False, drop_extra=False)
        except RfsetupError as exc:
            self.post_message(RestorePlanned(path, None, exc))
            return
        except Exception as exc:  # never a traceback on screen
            self.post_message(RestorePlanned(path, None, unexpected_error(
                "plan the restore", exc, self.secrets())))
            return
        self._version_table = vt
        self.post_message(RestorePlanned(path, plan))

    def on_restore_planned(self, message: RestorePlanned) -> None:
        if message.plan is None:
            error = message.error
            assert error is not None
            text = f"✗ {error.message}"
            if error.hint:
                text += f"\nhint: {error.hint}"
            self._say(text, style="bold red")
            return
        plan = message.plan
        self._say(f"restore {plan.path.name}? (confirm in the dialog)", style="italic")
        from rfsetup.commands.backup import plan_text  # the CLI's words, shown the same here

        def confirmed(ok: bool | None) -> None:
            if ok:
                self.start_restore(plan)
            else:
                self._say("restore cancelled: nothing was changed", style="dim")

        self.app.push_screen(ConfirmModal(
            f"Restore {plan.path.name}",
            f"database {plan.database} (now at {plan.target_revision or 'base'}) is replaced "
            f"by the backup (at {plan.dump_revision or 'base'})", "", plan.database,
            body=Text(plan_text(plan)), confirm_label="Restore (Enter)",
            backup_note="Nothing is changed if it fails: it is one transaction."), confirmed)

    def start_restore(self, plan: RestorePlan) -> None:
        refused = self.busy()
        if refused:
            self._say(f"! {refused}", style="bold yellow")
            return
        self.restoring, self.cancel_requested = plan, False
        self._lines, self._tick = [f"restoring {plan.path.name}…"], None
        self._show_progress()
        self._restore_worker = self.run_restore(plan)

    @work(thread=True, exclusive=True, exit_on_error=False, group="backups-restore")
    def run_restore(self, plan: RestorePlan) -> None:
        from rfsetup.core import restore
        from rfsetup.core.progress import ProgressTick

        worker = get_current_worker()

        def progress(line: str) -> None:
            self.post_message(RestoreProgressed(str(line), isinstance(line, ProgressTick)))

        try:
            result = restore.restore_backup(
                self.settings, plan.path, version_table=self._version_table,
                on_progress=progress, cancel=worker.cancelled_event, confirmed=plan)
        except RfsetupError as exc:
            self.post_message(BackupRestored(plan.path, None, exc))
            return
        except Exception as exc:
            self.post_message(BackupRestored(plan.path, None, unexpected_error(
                "restore", exc, self.secrets())))
            return
        self.post_message(BackupRestored(plan.path, result))

    def on_restore_progressed(self, message: RestoreProgressed) -> None:
        if message.tick:
            self._tick = message.line
        else:
            self._tick = None
            self._lines = [*self._lines[-2:], message.line]
        self._show_progress()

    def _show_progress(self) -> None:
        text = Text("\n".join(self._lines), style="italic")
        if self._tick:
            text.append(f"\n{self._tick}", style="bold italic")
        if self.cancel_requested:
            text.append("\ncancel requested: the restore is being rolled back",
                        style="bold yellow")
        self.query_one("#backups-status", Static).update(text)

    def on_backup_restored(self, message: BackupRestored) -> None:
        self.restoring, self._restore_worker = None, None
        if self.on_restored is not None:
            self.on_restored(message)
        if message.result is not None:
            result = message.result
            text = f"✓ restored: database {result.plan.database} is at " \
                   f"{result.revision or 'base'}"
            if result.safety is not None:
                text += f"\nthe state before: {display_path(Path(result.safety.path))}"
            self._say(text, style="bold green")
        else:
            error = message.error
            assert error is not None
            text = f"✗ {error.message}" + (f"\nhint: {error.hint}" if error.hint else "")
            self._say(text, style="bold red")
        if self.load:
            self.list_backups()  # the safety backup is new

    def action_cancel_restore(self) -> None:
        if self._restore_worker is not None and self.restoring is not None:
            self.cancel_requested = True
            self._restore_worker.cancel()
            self._show_progress()

    # -- prune -------------------------------------------------------------------------------
    def action_prune(self) -> None:
        refused = self._refused()
        if refused:
            self._say(f"! {refused}", style="bold yellow")
            return
        mine = [b for b in self.backups if b.database == self.database]
        if len(mine) <= 1:
            self._say(f"nothing to prune: database {self.database} has {len(mine)} backup(s)",
                      style="dim")
            return
        from rfsetup.tui.modals.prune import PruneModal

        def chosen(keep: int | None) -> None:
            if keep:
                self._say(f"pruning: keeping the newest {keep}…", style="italic")
                self.prune(keep)

        self.app.push_screen(PruneModal(self.settings, self.database, len(mine),
                                        dry_run=self.load), chosen)

    @work(thread=True, exclusive=True, exit_on_error=False, group="backups-prune")
    def prune(self, keep: int) -> None:
        from rfsetup.core.backups import prune_backups

        try:
            removed = prune_backups(self.settings, keep, database=self.database)
        except RfsetupError as exc:
            self.post_message(BackupsPruned([], exc))
            return
        self.post_message(BackupsPruned(removed))

    def on_backups_pruned(self, message: BackupsPruned) -> None:
        if message.error is not None:
            self._say(f"✗ {message.error.message}", style="bold red")
        else:
            self._say(f"✓ removed {len(message.removed)} backup(s)", style="bold green")
        if self.load:
            self.list_backups()

    # -- closing -----------------------------------------------------------------------------
    def _say(self, text: str, *, style: str = "", info: bool = False) -> None:
        """An outcome (a refusal, a result: kept) or, ``info``, what the list is doing (on
        the line below; a reload does not wipe the outcome above it)."""
        if info:
            self._info = Text(text, style=style)
        else:
            self._outcome = Text(text, style=style)
        shown = Text()
        for part in (self._outcome, self._info):
            if part is not None and part.plain:
                shown.append("\n" if shown.plain else "")
                shown.append_text(part)
        self.query_one("#backups-status", Static).update(shown)

    def action_close(self) -> None:
        if self.restoring is not None:
            self._say("! a restore is running: x cancels it (rolled back); it cannot be "
                      "left running here", style="bold yellow")
            return
        self.dismiss(None)

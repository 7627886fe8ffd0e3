"""Step 4, Migrations: the history, the SQL of the chosen move, upgrade and roll back.

The history marks the current revision and the heads, branch points and merges. Highlighting a
revision chooses the move from the current revision to it (up or down) and shows its SQL
(migrations.preview) with squawk's findings (lint). Upgrades run at once; every downgrade and
stamp first opens a ConfirmModal with the SQL that asks for the database name. Up and down take
a backup first (backup=True) and stream Alembic's output into the log pane.

``rfsetup rollback`` opens here with "roll back one step" chosen: ``d``, the name, Enter.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.timer import Timer
from textual.widgets import DataTable, Static

from rfsetup.core.alembic.planning import (
    BASE,
    DOWN_BASE,
    DOWN_ONE,
    UPGRADE_HEAD,
    Move,
    count_text,
    move_to,
    one_step_down,
    stamp_move,
)
from rfsetup.core.errors import RfsetupError
from rfsetup.tui.messages import (
    HistoryLoaded,
    LintFinished,
    MigrationApplied,
    MigrationFailed,
    MigrationProgressed,
    OperationFailed,
    PreviewReady,
)
from rfsetup.tui.modals.confirm import ConfirmModal
from rfsetup.tui.screens.base import StepScreen, display_path, unexpected_error
from rfsetup.tui.state import StepState, migrations_state
from rfsetup.tui.warmup import ensure_imported, ensure_migration_imported
from rfsetup.tui.widgets.log_pane import LogPane
from rfsetup.tui.widgets.sql_view import SqlView, render_sql

#: highlight changes settle this long before a preview is rendered (arrow keys held down)
PREVIEW_DEBOUNCE = 0.15
#: progress lines are written to the log pane in batches at most this often (seconds)
LOG_FLUSH = 0.1


def marks(rev: Any) -> str:
    parts = []
    if rev.is_current:
        parts.append("● current")
    if rev.is_head:
        parts.append("◆ head")
    if rev.is_branch_point:
        parts.append("⑂ branch")
    if rev.is_merge:
        parts.append("⑃ merge")
    return " ".join(parts)


def marked_lines(preview: Any, findings: Sequence[Any]) -> set[int]:
    """Lines of ``preview.sql`` with a finding (squawk counts lines within each revision)."""
    offsets: dict[str, int] = {}
    position = 0
    for step in preview.steps:
        start = preview.sql.find(step.sql, position) if step.sql else -1
        if start >= 0:
            offsets[step.revision] = preview.sql.count("\n", 0, start)
            position = start + len(step.sql)
    return {offsets[f.revision] + int(f.line) for f in findings
            if f.line is not None and f.revision in offsets}


def lint_note(findings: Sequence[Any], error: RfsetupError | None) -> str:
    if error is not None:
        return f"\n-- squawk: {error.message}"
    return "" if findings else "\n-- squawk: no findings"


def preview_note(preview: Any, move: Move) -> str:
    frm = ", ".join(preview.from_revisions) or "base"
    if move.kind == "stamp":
        return f"-- {move.label}: {frm} → {preview.target} (no migration runs)"
    note = f"-- {move.label}: {frm} → {preview.target} ({count_text(len(preview.steps))})"
    gaps = getattr(preview, "offline_gaps", [])
    if gaps:
        names = ", ".join(g.revision for g in gaps)
        note += f"\n-- {names}: no offline SQL; the Python that runs is shown in its place"
    return note


class MigrationsScreen(StepScreen):
    """History above, the SQL of the chosen move in the middle, the log below."""

    STEP_ID = "migrations"
    BINDINGS = [
        Binding("u", "upgrade_head", "Upgrade", id="migrate-upgrade-head",
                tooltip="Upgrade to head (backup first)"),
        Binding("d", "down_one", "Down 1", id="migrate-down-one",
                tooltip="Roll back one step, -1 (confirm; backup first)"),
        Binding("g", "run_selected", "Go to", id="migrate-to-selected",
                tooltip="Move to the selected revision, up or down (down: confirm)"),
        Binding("b", "down_base", "Base", id="migrate-down-base",
                tooltip="Roll back everything, to base (confirm; backup first)"),
        Binding("s", "stamp_selected", "Stamp", id="migrate-stamp",
                tooltip="Stamp the selected revision without running SQL (confirm)"),
        Binding("r", "reload", "Reload", id="migrate-reload", show=False,
                tooltip="Reload the migration history"),
        Binding("x", "cancel", "Cancel", id="migrate-cancel",
                tooltip="Cancel the running migration at the next revision boundary"),
    ]

    def __init__(self, *, rollback: bool = False) -> None:
        super().__init__()
        self.rollback = rollback
        self.revisions: list[Any] = []
        self.parents: dict[str, tuple[str, ...]] = {}
        self.heads: list[str] = []
        self.current: tuple[str, ...] = ()
        self.history_loaded = False
        self.report: Any | None = None
        self.choice: Move | None = DOWN_ONE if rollback else None
        self.preview: Any | None = None
        self.preview_move: Move | None = None
        self.findings: list[Any] = []
        self.running = False
        self.cancel_event = threading.Event()
        self._confirm_pending: Move | None = None
        self._debounce: Timer | None = None
        self._placed_cursor = False
        self._pending_lines: list[str] = []
        self._flush_scheduled = False

    def compose(self) -> ComposeResult:
        yield Static("", id="mig-move")
        yield DataTable(id="mig-history", cursor_type="row")
        yield SqlView("the SQL of the chosen move appears here", id="mig-sql")
        yield Static("", id="mig-result")
        yield LogPane(id="mig-log")

    def on_mount(self) -> None:
        table = self.query_one("#mig-history", DataTable)
        table.add_column("", key="marks")
        table.add_column("revision", key="revision")
        table.add_column("message", key="message")
        self.query_one("#mig-log", LogPane).border_title = "Log"
        self.query_one("#mig-sql", SqlView).border_title = "SQL"
        self._show_choice()

    def first_focus(self) -> Any:
        return self.query_one("#mig-history", DataTable)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # the footer shows "x Cancel" only while a migration runs
        if action == "cancel":
            return self.running
        return True

    def _set_running(self, running: bool) -> None:
        self.running = running
        self.refresh_bindings()

    def step_state(self, report: Any | None) -> StepState:
        return migrations_state(report)

    @property
    def database_name(self) -> str:
        if self.report is not None and self.report.database.name:
            return str(self.report.database.name)
        try:
            ensure_imported()
            return str(self.settings.url().database)
        except RfsetupError:
            return "?"

    # -- status and history -----------------------------------------------------------------
    def status_changed(self, report: Any, previous: Any | None) -> None:
        self.report = report
        changed = previous is None or previous.current != report.current or \
            previous.heads != report.heads or \
            previous.database.reachable != report.database.reachable
        if (changed or not self.history_loaded) and not self.running and self.live:
            self.load_history(report.current if report.database.reachable else ())

    def action_reload(self) -> None:
        current = self.report.current if self.report is not None and \
            self.report.database.reachable else None
        self.load_history(current)

    @work(thread=True, exclusive=True, exit_on_error=False, group="migrate-history")
    def load_history(self, current: tuple[str, ...] | None) -> None:
        ensure_imported()
        from rfsetup.core import alembic as migrations

        revisions = self.attempt("read the migration history",
                                 lambda: migrations.history(self.settings, current=current),
                                 silent=True)
        if revisions is not None:
            now = tuple(r.revision for r in revisions if r.is_current)
            self.post_message(HistoryLoaded(revisions, now))

    def on_history_loaded(self, message: HistoryLoaded) -> None:
        self.show_history(message.revisions, message.current)

    def show_history(self, revisions: list[Any], current: tuple[str, ...]) -> None:
        """Fill the history table; place the cursor on the first load."""
        self.revisions, self.current = list(revisions), tuple(current)
        self.parents = {r.revision: tuple(r.down_revisions) for r in self.revisions}
        self.heads = [r.revision for r in self.revisions if r.is_head]
        self.history_loaded = True
        table = self.query_one("#mig-history", DataTable)
        keep = None
        if table.row_count:
            keep = str(table.coordinate_to_cell_key((table.cursor_row, 0))[0].value)
        table.clear()
        for rev in revisions:
            message = rev.message or ""
            if rev.is_merge:
                message = f"{message} (merges {', '.join(rev.down_revisions)})"
            style = "bold" if rev.is_current else ""
            table.add_row(Text(marks(rev), style="bold cyan" if rev.is_current else "yellow"),
                          Text(rev.revision, style=style), message, key=rev.revision)
        table.add_row(Text("● current" if not current else "", style="bold cyan"),
                      Text(BASE), "empty database (nothing applied)", key=BASE)
        table.border_subtitle = f"{len(revisions)} revisions"
        if not self._placed_cursor:
            self._placed_cursor = True
            self._place_initial_cursor(table)
        elif keep is not None and keep in table.rows:
            table.move_cursor(row=table.get_row_index(keep))
        self._choose_from_cursor()

    def _place_initial_cursor(self, table: DataTable) -> None:
        keys = [r.revision for r in self.revisions] + [BASE]
        target: str | None = None
        if self.rollback:
            target = one_step_down(self.parents, self.current)
        elif self.report is not None and self.report.pending:
            heads = [r.revision for r in self.revisions if r.is_head]
            target = heads[0] if heads else None
        if target is None:
            target = self.current[0] if self.current else BASE
        if target is not None and target in keys:
            table.move_cursor(row=keys.index(target), animate=False)

    def selected_revision(self) -> str | None:
        table = self.query_one("#mig-history", DataTable)
        if not table.row_count:
            return None
        return str(table.coordinate_to_cell_key((table.cursor_row, 0))[0].value)

    @on(DataTable.RowHighlighted, "#mig-history")
    def _highlighted(self) -> None:
        if self._debounce is not None:
            self._debounce.stop()
        self._debounce = self.set_timer(PREVIEW_DEBOUNCE, self._choose_from_cursor)

    def _choose_from_cursor(self) -> None:
        selected = self.selected_revision()
        if selected is None:
            return
        self.choose(move_to(self.parents, self.heads, self.current, selected))

    # -- the chosen move and its SQL ----------------------------------------------------------
    def choose(self, move: Move | None) -> None:
        """Make ``move`` the chosen one and render its SQL (None: nothing to do)."""
        if move == self.choice and self.preview_move == move and self.preview is not None:
            return
        self.choice = move
        self._show_choice()
        sql = self.query_one("#mig-sql", SqlView)
        if move is None:
            self.preview, self.preview_move = None, None
            sql.show_message("the database is at the selected revision: nothing to run")
            return
        if self.report is not None and not self.report.database.reachable:
            sql.show_message("the database is unreachable: no SQL to show (see the panel)")
            return
        sql.show_message(f"rendering the SQL to {move.label}…")
        if self.live:
            self.render_preview(move, sql.dark)

    def _show_choice(self) -> None:
        text = Text()
        if self.choice is None:
            text.append("Chosen: nothing (the database is at the selection)", style="dim")
        else:
            text.append("Chosen: ", style="bold")
            text.append(self.choice.label, style="bold yellow" if
                        self.choice.needs_confirmation else "bold green")
            key = "d" if self.choice == DOWN_ONE else "g"
            after = ", after you confirm" if self.choice.needs_confirmation else ""
            text.append(f"   ({key} runs it{after})", style="dim")
        self.query_one("#mig-move", Static).update(text)

    @work(thread=True, exclusive=True, exit_on_error=False, group="migrate-preview")
    def render_preview(self, move: Move, dark: bool) -> None:
        ensure_migration_imported()
        from textual.worker import get_current_worker

        from rfsetup.core import alembic as migrations

        worker = get_current_worker()
        try:
            if move.kind == "stamp":
                preview = migrations.stamp_preview(self.settings, move.target)
            else:
                preview = migrations.preview(self.settings, move.target,
                                             down=move.kind == "down")
        except Exception as exc:  # shown in the SQL pane: a modal per highlighted row is noise
            error = exc if isinstance(exc, RfsetupError) else unexpected_error(
                f"preview: {move.label}", exc, self.rf_app.known_secrets())
            self.post_message(PreviewReady(None, move.label, error=error))
            return
        if worker.is_cancelled:
            return
        # highlighting thousands of lines is work for this thread, not the UI's
        note = preview_note(preview, move)
        self.post_message(PreviewReady(preview, move.label,
                                       render_sql(preview.sql, note=note, dark=dark)))
        findings: list[Any] = []
        error: RfsetupError | None = None
        if move.kind == "stamp":  # Alembic's version-table bookkeeping only: nothing to lint
            return
        try:
            findings = list(migrations.lint(preview))
        except RfsetupError as exc:
            error = exc
        except Exception as exc:  # squawk is advisory: its failure must not hide the SQL
            error = RfsetupError(f"squawk failed: {type(exc).__name__}", kind="lint_failed")
        if worker.is_cancelled:
            return
        note += lint_note(findings, error)
        lines = render_sql(preview.sql, findings, note=note,
                           marked=marked_lines(preview, findings), dark=dark)
        self.post_message(LintFinished(preview, findings, error, lines))

    def on_preview_ready(self, message: PreviewReady) -> None:
        move = self.choice
        if message.preview is None:
            if move is not None and message.label == move.label:
                error = message.error
                text = f"✗ no SQL for {move.label}: {error.message if error else 'failed'}"
                if error is not None and error.hint:
                    text += f"\n  hint: {error.hint}"
                self.query_one("#mig-sql", SqlView).show_message(text)
                if self._confirm_pending == move and error is not None:
                    self.post_message(OperationFailed(f"preview: {move.label}", error))
            self._confirm_pending = None
            return
        if move is None or message.label != move.label:
            return  # a stale preview for a move no longer chosen
        self.show_preview(message.preview, move, lines=message.lines)

    def show_preview(self, preview: Any, move: Move, findings: Sequence[Any] = (),
                     lines: list[Any] | None = None) -> None:
        self.preview, self.preview_move, self.findings = preview, move, list(findings)
        view = self.query_one("#mig-sql", SqlView)
        if lines is not None:
            view.show_lines(lines, preview.sql, findings)
        else:
            view.show(preview.sql, findings, note=preview_note(preview, move),
                      marked=marked_lines(preview, findings))
        if self._confirm_pending == move:
            self._confirm_pending = None
            if preview.steps:
                self._open_confirm(move)
            else:
                self._nothing_to_do(f"nothing to do: the database is already at "
                                    f"{preview.target or 'base'}")

    def _nothing_to_do(self, why: str) -> None:
        self.query_one("#mig-result", Static).update(Text(why, style="bold"))
        self.notify(why)

    def on_lint_finished(self, message: LintFinished) -> None:
        if message.preview is not self.preview or self.preview_move is None:
            return
        self.findings = list(message.findings)
        view = self.query_one("#mig-sql", SqlView)
        if message.lines is not None:
            view.show_lines(message.lines, self.preview.sql, self.findings)
            return
        note = preview_note(self.preview, self.preview_move)
        note += lint_note(message.findings, message.error)
        view.show(self.preview.sql, self.findings, note=note,
                  marked=marked_lines(self.preview, self.findings))

    # -- actions ----------------------------------------------------------------------------
    def _busy(self) -> bool:
        if self.running:
            self.notify("a migration is running (x cancels at the next revision)",
                        severity="warning")
        return self.running

    def action_upgrade_head(self) -> None:
        if not self._busy():
            self.request(UPGRADE_HEAD)

    def action_down_one(self) -> None:
        if not self._busy():
            self.request(DOWN_ONE)

    def action_down_base(self) -> None:
        if not self._busy():
            self.request(DOWN_BASE)

    def action_run_selected(self) -> None:
        if self._busy():
            return
        selected = self.selected_revision()
        move = move_to(self.parents, self.heads, self.current, selected) if selected else None
        if move is None:
            self.notify("the database is already at the selected revision")
            return
        self.request(move)

    @on(DataTable.RowSelected, "#mig-history")
    def _row_selected(self) -> None:
        self.action_run_selected()

    def action_stamp_selected(self) -> None:
        if self._busy():
            return
        selected = self.selected_revision()
        if selected is None:
            return
        move = stamp_move(selected)
        self.request(move)

    def action_cancel(self) -> None:
        if self.running:
            self.cancel_event.set()
            self.query_one("#mig-log", LogPane).write(
                "cancel requested: stopping at the next revision boundary")

    def request(self, move: Move) -> None:
        """Run ``move``: upgrades at once, downgrades after the confirmation (SQL first)."""
        if move.kind == "down" and self.history_loaded and not self.current:
            self._nothing_to_do("nothing to roll back: the database is at base")
            return
        if not move.needs_confirmation:
            self.choose(move)
            self.start_migration(move)
            return
        if self.preview_move == move and self.preview is not None:
            self._open_confirm(move)
            return
        self._confirm_pending = move
        self.choose(move)

    def _open_confirm(self, move: Move) -> None:
        sql = self.preview.sql if self.preview is not None else ""
        if move.kind == "stamp":
            note = ("No backup: a stamp changes no data, only the revision Alembic believes is "
                    "applied.")
        else:
            note = "A pg_dump backup is taken first (into .rfsetup/backups/); its path is shown."
        frm = ", ".join(self.current) or "base"
        to = move.target
        if self.preview is not None:
            frm = ", ".join(self.preview.from_revisions) or "base"
            to = self.preview.target
        summary = f"database {self.database_name}: {frm} → {to}"
        if self.preview is not None and move.kind == "down":
            summary += f" ({count_text(len(self.preview.steps))} undone)"

        def confirmed(ok: bool | None) -> None:
            if ok:
                self.start_migration(move)
            else:
                self.notify("cancelled: nothing was changed")

        view = self.query_one("#mig-sql", SqlView)
        lines = view.lines if view.sql == sql and sql else None
        self.app.push_screen(
            ConfirmModal(move.label[0].upper() + move.label[1:], summary, sql,
                         self.database_name, backup_note=note, findings=self.findings,
                         lines=lines,
                         marked=marked_lines(self.preview, self.findings)
                         if self.preview is not None else None),
            confirmed)

    # -- running ----------------------------------------------------------------------------
    def start_migration(self, move: Move) -> None:
        self._set_running(True)
        self.cancel_event = threading.Event()
        log = self.query_one("#mig-log", LogPane)
        log.write(f"── {move.label} ({self.database_name})")
        self.query_one("#mig-result", Static).update(Text(f"running: {move.label}…",
                                                          style="bold italic"))
        # compare-and-swap: run only from the revision that was on screen when it was chosen
        shown = self.preview.from_revisions if self.preview is not None and \
            self.preview_move == move else self.current
        self.migrate(move, self.cancel_event, tuple(shown))

    @work(thread=True, exclusive=True, exit_on_error=False, group="migrate-run")
    def migrate(self, move: Move, cancel: threading.Event, shown: tuple[str, ...]) -> None:
        ensure_migration_imported()
        from rfsetup.core import alembic as migrations

        def progress(line: str) -> None:
            self.post_message(MigrationProgressed(line))

        try:
            if move.kind == "up":
                result = migrations.upgrade(self.settings, move.target, backup=True,
                                            on_progress=progress, cancel=cancel,
                                            expect_from=shown)
            elif move.kind == "down":
                result = migrations.downgrade(self.settings, move.target, backup=True,
                                              on_progress=progress, cancel=cancel,
                                              expect_from=shown)
            else:
                result = migrations.stamp(self.settings, move.target, expect_from=shown)
        except Exception as exc:
            error = exc if isinstance(exc, RfsetupError) else \
                unexpected_error(move.label, exc, self.rf_app.known_secrets())
            current = self._current_after_failure()
            self.post_message(MigrationFailed(move.label, error, current))
            return
        self.post_message(MigrationApplied(move.label, result))

    def _current_after_failure(self) -> tuple[str, ...] | None:
        from rfsetup.core import alembic as migrations

        try:
            return tuple(migrations.current_revisions(self.settings))
        except Exception:  # unreachable now: the panel shows why
            return None

    def on_migration_progressed(self, message: MigrationProgressed) -> None:
        # lines arrive in bursts (hundreds of revisions): write them in batches, so the log
        # is rendered at most every LOG_FLUSH seconds instead of once per line
        self._pending_lines.append(message.line)
        if not self._flush_scheduled:
            self._flush_scheduled = True
            self.set_timer(LOG_FLUSH, self._flush_log)

    def _flush_log(self) -> None:
        self._flush_scheduled = False
        if self._pending_lines:
            lines, self._pending_lines = self._pending_lines, []
            self.query_one("#mig-log", LogPane).write("\n".join(lines))

    def on_migration_applied(self, message: MigrationApplied) -> None:
        self._flush_log()
        self._set_running(False)
        result = message.result
        frm = ", ".join(result.from_revisions) or "base"
        to = ", ".join(result.to_revisions) or "base"
        cancelled = getattr(result, "cancelled", False)
        text = Text("! stopped: " if cancelled else "✓ ", style="bold yellow" if cancelled
                    else "bold green")
        count = len(result.applied)
        text.append(f"{frm} → {to} ({count} revision{'s' * (count != 1)})", style="bold")
        if result.backup is not None:
            text.append(f"  backup: {display_path(Path(result.backup.path))}", style="dim")
        self.query_one("#mig-result", Static).update(text)
        log = self.query_one("#mig-log", LogPane)
        log.write(f"{'cancelled' if cancelled else 'done'}: the database is at {to}")

    def on_migration_failed(self, message: MigrationFailed) -> None:
        self._flush_log()
        self._set_running(False)
        where = "unknown (cannot connect)" if message.current is None else \
            (", ".join(message.current) or "base")
        text = Text(f"✗ {message.operation} failed: {message.error.message}", style="bold red")
        text.append(f"\nthe database is at: {where}", style="bold")
        self.query_one("#mig-result", Static).update(text)
        log = self.query_one("#mig-log", LogPane)
        log.write(f"FAILED: {message.error.message}")
        if message.error.cause:
            log.write(f"cause: {message.error.cause}")
        log.write(f"the database is at: {where}")
        hint = (message.error.hint + "\n" if message.error.hint else "") + \
            f"the database is left at: {where}"
        self.post_message(OperationFailed(message.operation, RfsetupError(
            message.error.message, cause=message.error.cause, hint=hint,
            exit_code=message.error.exit_code, kind=message.error.kind)))
